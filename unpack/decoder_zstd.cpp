#include "unpack/decoder.hpp"
