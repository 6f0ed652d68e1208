// Throughput of the streaming hasher at the chunk sizes the fetcher hands out.
// MACHINE-NOTES: OpenSSL sha256 with SHA-NI does ~1.8 GB/s on one core here.
#include <benchmark/benchmark.h>

#include <string>

#include "core/digest.hpp"

namespace {

void BM_Sha256Chunks(benchmark::State& state) {
  const std::string chunk(static_cast<std::size_t>(state.range(0)), 'x');
  gantry::core::Hasher hasher;
  for (auto _ : state) {
    hasher.update(chunk);
  }
  benchmark::DoNotOptimize(hasher.finish());
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_Sha256Chunks)->Arg(16 << 10)->Arg(256 << 10)->Arg(1 << 20);

void BM_Sha512Chunks(benchmark::State& state) {
  const std::string chunk(1 << 20, 'x');
  gantry::core::Hasher hasher(gantry::core::DigestAlgorithm::sha512);
  for (auto _ : state) {
    hasher.update(chunk);
  }
  benchmark::DoNotOptimize(hasher.finish());
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * (1 << 20));
}
BENCHMARK(BM_Sha512Chunks);

}  // namespace
