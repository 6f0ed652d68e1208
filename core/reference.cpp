#include "core/reference.hpp"
