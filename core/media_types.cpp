#include "core/media_types.hpp"
