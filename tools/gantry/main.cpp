// gantry: pull, unpack and run container images.
#include <cstdio>
#include <exception>
#include <string_view>

#include "core/error.hpp"

int main(int argc, char** argv) {
  try {
    (void)argc;
    (void)argv;
    std::puts("gantry");
    return 0;
  } catch (const gantry::core::Error& e) {
    std::fprintf(stderr, "gantry: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gantry: error: %s\n", e.what());
    return 1;
  }
}
