// How fast two CPUs hand data to each other, which bounds what a second
// thread can gain on one sample: a layer split over two cores reads what the
// other core wrote, and rewrites memory the other core has read. Virtual
// machines differ here from run to run (two vCPUs may share a last-level
// cache or sit on different dies), so the end-to-end suite runs this next to
// its 2-thread rows (scripts/bench_networks.sh).
//
// Two threads pinned to CPUs a and b take turns on one buffer, a cache line
// at a time (one 8-byte word per 64-byte line, so every access moves or
// claims the whole line):
//   remote read   b reads what a has just written
//   local read    b reads it again (now in b's cache)
//   shared write  b writes lines that both a and b have just read
//   local write   b writes them again (now only in b's cache)
// Each is timed on b, `reps` times; one JSON line gives the medians in
// microseconds. Exit 77 where fewer than two CPUs are available.
//
//   core_to_core_bench [--kib 256] [--reps 200] [--cpus a,b]
#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kLine = 64;

struct Options {
  size_t kib = 256;
  int reps = 200;
  int cpu_a = -1, cpu_b = -1;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(
      stderr,
      "core_to_core_bench: %s\nusage: core_to_core_bench [--kib N] [--reps N] [--cpus a,b]\n", why);
  std::exit(2);
}

long parse_number(const char* text, long low, long high, const char* what) {
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || value < low || value > high) {
    usage((std::string(what) + " must be an integer in [" + std::to_string(low) + ", " +
           std::to_string(high) + "]")
              .c_str());
  }
  return value;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) usage(("missing value after " + flag).c_str());
    const char* value = argv[++i];
    if (flag == "--kib") {
      o.kib = static_cast<size_t>(parse_number(value, 4, 1 << 20, "--kib"));
    } else if (flag == "--reps") {
      o.reps = static_cast<int>(parse_number(value, 1, 1000000, "--reps"));
    } else if (flag == "--cpus") {
      const char* comma = std::strchr(value, ',');
      if (comma == nullptr) usage("--cpus takes two CPU numbers, a,b");
      o.cpu_a = static_cast<int>(
          parse_number(std::string(value, comma).c_str(), 0, CPU_SETSIZE - 1, "--cpus"));
      o.cpu_b = static_cast<int>(parse_number(comma + 1, 0, CPU_SETSIZE - 1, "--cpus"));
      if (o.cpu_a == o.cpu_b) usage("--cpus takes two different CPUs");
    } else {
      usage(("unknown flag " + flag).c_str());
    }
  }
  return o;
}

bool pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0;
}

// One word of every line: the loads are independent, so the lines stream.
uint64_t read_lines(const uint8_t* buffer, size_t bytes) {
  uint64_t sum = 0;
  for (size_t at = 0; at < bytes; at += kLine) {
    uint64_t word;
    std::memcpy(&word, buffer + at, sizeof word);
    sum += word;
  }
  return sum;
}

void write_lines(uint8_t* buffer, size_t bytes, uint64_t value) {
  for (size_t at = 0; at < bytes; at += kLine) std::memcpy(buffer + at, &value, sizeof value);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parse(argc, argv);
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) {
    std::perror("core_to_core_bench: sched_getaffinity");
    return 1;
  }
  if (o.cpu_a < 0) {
    std::vector<int> cpus;
    for (int c = 0; c < CPU_SETSIZE && cpus.size() < 2; ++c) {
      if (CPU_ISSET(c, &allowed)) cpus.push_back(c);
    }
    if (cpus.size() < 2) {
      std::printf("{\"skipped\": \"fewer than two CPUs available\"}\n");
      return 77;
    }
    o.cpu_a = cpus[0];
    o.cpu_b = cpus[1];
  }
  if (!CPU_ISSET(o.cpu_a, &allowed) || !CPU_ISSET(o.cpu_b, &allowed))
    usage("--cpus names a CPU this process may not use");

  const size_t bytes = o.kib * 1024;
  std::unique_ptr<uint8_t[]> storage(new uint8_t[bytes + kLine]);
  const auto base = reinterpret_cast<uintptr_t>(storage.get());
  auto* buffer = reinterpret_cast<uint8_t*>((base + kLine - 1) / kLine * kLine);
  std::memset(buffer, 0, bytes);

  // The turn: a moves on odd values, b on even ones; b advances it last.
  std::atomic<int> turn{0};
  std::atomic<bool> pinned_a{true};
  std::atomic<uint64_t> sink{0};  // keeps the reads: an atomic add is never dropped
  auto wait_for = [&turn](int value) {
    while (turn.load(std::memory_order_acquire) != value) {
    }
  };
  std::thread a([&] {
    pinned_a = pin(o.cpu_a);
    for (int r = 0; r < o.reps; ++r) {
      wait_for(4 * r + 1);
      write_lines(buffer, bytes, static_cast<uint64_t>(r) + 1);
      turn.store(4 * r + 2, std::memory_order_release);
      wait_for(4 * r + 3);
      sink += read_lines(buffer, bytes);
      turn.store(4 * r + 4, std::memory_order_release);
    }
  });
  const bool pinned_b = pin(o.cpu_b);
  std::vector<double> remote_read, local_read, shared_write, local_write;
  auto micros = [](Clock::time_point from, Clock::time_point to) {
    return std::chrono::duration<double, std::micro>(to - from).count();
  };
  for (int r = 0; r < o.reps; ++r) {
    turn.store(4 * r + 1, std::memory_order_release);  // a writes
    wait_for(4 * r + 2);
    Clock::time_point t0 = Clock::now();
    sink += read_lines(buffer, bytes);
    Clock::time_point t1 = Clock::now();
    sink += read_lines(buffer, bytes);
    Clock::time_point t2 = Clock::now();
    remote_read.push_back(micros(t0, t1));
    local_read.push_back(micros(t1, t2));
    turn.store(4 * r + 3, std::memory_order_release);  // a reads: both hold the lines
    wait_for(4 * r + 4);
    t0 = Clock::now();
    write_lines(buffer, bytes, static_cast<uint64_t>(r) + 7);
    t1 = Clock::now();
    write_lines(buffer, bytes, static_cast<uint64_t>(r) + 9);
    t2 = Clock::now();
    shared_write.push_back(micros(t0, t1));
    local_write.push_back(micros(t1, t2));
  }
  a.join();
  if (!pinned_a || !pinned_b) {
    std::fprintf(stderr, "core_to_core_bench: could not pin to CPUs %d and %d\n", o.cpu_a, o.cpu_b);
    return 1;
  }
  std::printf(
      "{\"cpus\": [%d, %d], \"kib\": %zu, \"reps\": %d, \"remote_read_us\": %.3f, "
      "\"local_read_us\": %.3f, \"shared_write_us\": %.3f, \"local_write_us\": %.3f}\n",
      o.cpu_a, o.cpu_b, o.kib, o.reps, median(remote_read), median(local_read),
      median(shared_write), median(local_write));
  return 0;
}
