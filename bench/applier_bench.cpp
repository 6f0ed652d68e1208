// Files per second through the secure applier, on a layer shaped like a real
// image's (a 46k-file image: ~2000 directories of ~23 small files, a few
// symlinks and hardlinks). The root is on tmpfs by default
// (GANTRY_BENCH_DIR overrides): MACHINE-NOTES explains why ext4 right after
// an rm -rf measures the kernel, not the applier. Build Release and run
// `bench/bench_applier`.
#include <benchmark/benchmark.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "unpack/applier.hpp"

namespace {

namespace fs = std::filesystem;
using gantry::unpack::Applier;
using gantry::unpack::EntryData;
using gantry::unpack::EntryType;
using gantry::unpack::TarEntry;

class BufferData final : public EntryData {
 public:
  BufferData(const std::string& bytes, std::int64_t size) : bytes_(bytes), size_(size) {}
  bool next(std::int64_t& offset, std::span<const std::byte>& block) override {
    if (done_ || size_ == 0) return false;
    done_ = true;
    offset = 0;
    block = std::as_bytes(std::span(bytes_.data(), static_cast<std::size_t>(size_)));
    return true;
  }

 private:
  const std::string& bytes_;
  std::int64_t size_;
  bool done_ = false;
};

std::vector<TarEntry> image_like_layer(int dirs, int files_per_dir) {
  std::mt19937 gen(42);
  std::vector<TarEntry> out;
  auto add = [&](EntryType type, std::string path, std::uint32_t mode, std::int64_t size = 0, std::string link = {}) {
    TarEntry e;
    e.type = type;
    e.path = std::move(path);
    e.mode = mode;
    e.size = size;
    e.link_target = std::move(link);
    e.mtime_sec = 1'700'000'000;
    out.push_back(std::move(e));
  };
  add(EntryType::directory, "usr/", 0755);
  add(EntryType::directory, "usr/lib/", 0755);
  for (int d = 0; d < dirs; ++d) {
    const std::string dir = "usr/lib/pkg" + std::to_string(d) + "/";
    add(EntryType::directory, dir, 0755);
    for (int f = 0; f < files_per_dir; ++f) {
      // Mostly small files, as in distro images: median ~1 KiB, some 16 KiB.
      const std::int64_t size = (gen() % 8 == 0) ? gen() % 16384 : gen() % 2048;
      add(EntryType::regular, dir + "file" + std::to_string(f) + ".py", 0644, size);
    }
    add(EntryType::symlink, dir + "current", 0777, 0, "file0.py");
    if (d % 10 == 0) add(EntryType::hardlink, dir + "hard", 0644, 0, dir + "file1.py");
  }
  return out;
}

void BM_ApplyImageLayer(benchmark::State& state) {
  const auto layer = image_like_layer(static_cast<int>(state.range(0)), 23);
  const std::string bytes(16384, 'x');
  const char* env = std::getenv("GANTRY_BENCH_DIR");
  const fs::path base = env ? env : "/dev/shm";
  std::int64_t files = 0;
  int run = 0;
  for (auto _ : state) {
    state.PauseTiming();
    const fs::path root = base / ("gantry-applier-bench-" + std::to_string(::getpid()) + "-" + std::to_string(run++));
    fs::create_directory(root);
    state.ResumeTiming();
    Applier applier(root, {});
    for (const TarEntry& e : layer) {
      BufferData data(bytes, e.type == EntryType::regular ? e.size : 0);
      applier.apply(e, data);
    }
    applier.finish();
    files += applier.stats().files;
    state.PauseTiming();
    fs::remove_all(root);
    state.ResumeTiming();
  }
  state.counters["files/s"] = benchmark::Counter(static_cast<double>(files), benchmark::Counter::kIsRate);
  state.counters["entries"] = static_cast<double>(layer.size());
}
BENCHMARK(BM_ApplyImageLayer)->Arg(2000)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
