#include "core/manifest.hpp"
