#include "core/platform.hpp"
