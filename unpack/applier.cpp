#include "unpack/applier.hpp"
