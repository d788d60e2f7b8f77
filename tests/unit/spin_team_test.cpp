// SpinTeam: run_capped on the leader of a team runs every item once, on
// worker indices the cap allows, never one index on two threads at once,
// while helpers join; once they have, each worker takes the same contiguous
// share in every region; exceptions reach the leader; a team without
// helpers (or a nested run_capped) still runs everything; busy time is
// counted per member only while asked for.
#include "runtime/backends/cpu/spin_team.hpp"

#include <gtest/gtest.h>
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/task_arena.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <random>
#include <stdexcept>
#include <thread>
#include <vector>

#include "runtime/backends/cpu/capped_parallel.hpp"

namespace sparq::cpu {
namespace {

// A team once `members` threads have joined it (helpers join when a oneTBB
// worker picks them up), or null after a second without them.
std::unique_ptr<SpinTeam> team_with_helpers(int threads, int members = 2) {
  auto team = std::make_unique<SpinTeam>(threads);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  while (team->members() < members && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  if (team->members() < members) return nullptr;
  return team;
}

struct Region {
  int64_t items, grain;
  int workers;
};

TEST(SpinTeam, EveryItemOnceOnAllowedWorkersInManyRegions) {
  tbb::global_control allow(tbb::global_control::max_allowed_parallelism, 4);
  tbb::task_arena arena(3);
  arena.execute([&] {
    // Regions start at once: helpers join while they run, from the next
    // region on.
    const auto team = std::make_unique<SpinTeam>(3);
    EXPECT_EQ(SpinTeam::led_by_this_thread(), team.get());
    std::mt19937 gen(7);
    std::uniform_int_distribution<int64_t> items(1, 300), grain(1, 40);
    std::uniform_int_distribution<int> workers(2, 4);
    // Many short regions back to back: each must see only its own ranges.
    // At least 2000, and on until a helper has joined (a oneTBB worker may
    // not be scheduled during the first 2000 on a loaded machine: they can
    // take 3 ms), for at most 20 s.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    for (int region = 0;
         region < 2000 || (team->members() < 2 && std::chrono::steady_clock::now() < deadline);
         ++region) {
      const Region r{items(gen), grain(gen), workers(gen)};
      std::vector<std::atomic<int>> hits(static_cast<size_t>(r.items));
      std::vector<std::atomic<int>> busy(8);
      std::atomic<bool> bad_worker{false}, reused{false}, bad_range{false};
      run_capped(r.items, r.workers, r.grain, [&](int worker, int64_t begin, int64_t end) {
        if (worker < 0 || worker >= std::min(r.workers, team->members())) bad_worker = true;
        if (worker < 0 || worker >= 8) return;
        if (busy[static_cast<size_t>(worker)].fetch_add(1) != 0) reused = true;
        if (begin % r.grain != 0 || end - begin > r.grain || end > r.items) bad_range = true;
        for (int64_t i = begin; i < std::min(end, r.items); ++i) hits[static_cast<size_t>(i)]++;
        busy[static_cast<size_t>(worker)].fetch_sub(1);
      });
      ASSERT_FALSE(bad_worker) << "region " << region;
      ASSERT_FALSE(reused) << "region " << region;
      ASSERT_FALSE(bad_range) << "region " << region;
      for (size_t i = 0; i < hits.size(); ++i) {
        ASSERT_EQ(hits[i].load(), 1) << "item " << i << " of region " << region;
      }
    }
    EXPECT_GE(team->members(), 2) << "no helper joined within 20 s of regions";
    EXPECT_LE(team->members(), 3);
  });
}

TEST(SpinTeam, HelpersRunPartOfARegion) {
  tbb::task_arena arena(2);
  arena.execute([&] {
    const std::unique_ptr<SpinTeam> team = team_with_helpers(2);
    ASSERT_NE(team, nullptr);
    const std::thread::id leader = std::this_thread::get_id();
    std::atomic<int> on_helper{0};
    run_capped(8, 2, 1, [&](int, int64_t, int64_t) {
      if (std::this_thread::get_id() != leader) on_helper++;
    });
    EXPECT_EQ(on_helper.load(), 4);  // the second half of the 8 ranges
  });
}

// The property the static shares exist for: once the team's helpers have
// joined, a range runs on the same worker in every region of the same size.
TEST(SpinTeam, EachRangeRunsOnTheSameWorkerEveryRegion) {
  tbb::global_control allow(tbb::global_control::max_allowed_parallelism, 4);
  tbb::task_arena arena(3);
  arena.execute([&] {
    const std::unique_ptr<SpinTeam> team = team_with_helpers(3, 3);
    ASSERT_NE(team, nullptr) << "the team's two helpers did not both join within a second";
    constexpr int64_t kItems = 50, kGrain = 3;
    std::vector<int> first(17, -1);
    for (int region = 0; region < 50; ++region) {
      std::vector<int> owner(17, -1);
      run_capped(kItems, 3, kGrain, [&](int worker, int64_t begin, int64_t) {
        owner[static_cast<size_t>(begin / kGrain)] = worker;
      });
      for (size_t r = 1; r < owner.size(); ++r) {
        ASSERT_GE(owner[r], owner[r - 1]) << "shares are contiguous, in worker order";
      }
      if (region == 0) first = owner;
      ASSERT_EQ(owner, first) << "region " << region;
    }
  });
}

// Busy time: with the count on, each member's share of a region that spins
// for a known time adds at least that time to the member's count, and
// nothing to a member without a share; with the count off nothing is added.
TEST(SpinTeam, BusyTimeCountsEachMembersShare) {
  tbb::task_arena arena(2);
  arena.execute([&] {
    const std::unique_ptr<SpinTeam> team = team_with_helpers(2);
    ASSERT_NE(team, nullptr) << "the helper did not join within a second";
    auto spin_for = [](std::chrono::microseconds length) {
      const auto until = std::chrono::steady_clock::now() + length;
      while (std::chrono::steady_clock::now() < until) {
      }
    };
    EXPECT_EQ(team->busy_seconds(), (std::vector<double>{0.0, 0.0}));
    run_capped(2, 2, 1, [&](int, int64_t, int64_t) { spin_for(std::chrono::milliseconds(3)); });
    EXPECT_EQ(team->busy_seconds(), (std::vector<double>{0.0, 0.0})) << "counted while off";
    team->count_busy_time(true);
    run_capped(2, 2, 1, [&](int worker, int64_t, int64_t) {
      spin_for(std::chrono::milliseconds(worker == 0 ? 2 : 5));
    });
    const std::vector<double> both = team->busy_seconds();
    ASSERT_EQ(both.size(), 2u);
    EXPECT_GE(both[0], 0.002);
    EXPECT_GE(both[1], 0.005);
    // Three ranges on one worker run on the caller, outside the team.
    run_capped(3, 1, 1, [&](int, int64_t, int64_t) { spin_for(std::chrono::milliseconds(1)); });
    EXPECT_EQ(team->busy_seconds(), both);
    // Each member's own share: the leader's long, the helper's empty.
    run_capped(2, 2, 1, [&](int worker, int64_t, int64_t) {
      if (worker == 0) spin_for(std::chrono::milliseconds(20));
    });
    const std::vector<double> busy = team->busy_seconds();
    EXPECT_GE(busy[0] - both[0], 0.020);
    EXPECT_LT(busy[1] - both[1], 0.020) << "the helper was counted for the leader's share";
    team->count_busy_time(false);
    run_capped(2, 2, 1, [&](int, int64_t, int64_t) { spin_for(std::chrono::milliseconds(3)); });
    EXPECT_EQ(team->busy_seconds(), busy);
  });
}

TEST(SpinTeam, ExceptionsReachTheLeaderAndTheTeamGoesOn) {
  tbb::task_arena arena(2);
  arena.execute([&] {
    const std::unique_ptr<SpinTeam> team = team_with_helpers(2);
    ASSERT_NE(team, nullptr);
    for (int64_t failing : {int64_t{0}, int64_t{63}}) {  // the leader's share, a helper's
      EXPECT_THROW(run_capped(64, 2, 1,
                              [&](int, int64_t begin, int64_t) {
                                if (begin == failing) throw std::runtime_error("body failed");
                              }),
                   std::runtime_error)
          << "failing range " << failing;
      std::atomic<int64_t> sum{0};
      run_capped(64, 2, 1, [&](int, int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) sum += i;
      });
      EXPECT_EQ(sum.load(), 64 * 63 / 2);
    }
  });
}

TEST(SpinTeam, NestedRunCappedAndTeamsWithoutHelpersRunEverything) {
  tbb::task_arena arena(2);
  arena.execute([&] {
    const std::unique_ptr<SpinTeam> team = team_with_helpers(2);
    ASSERT_NE(team, nullptr);
    std::atomic<int> inner_items{0};
    run_capped(4, 2, 1, [&](int, int64_t, int64_t) {
      // A body's own run_capped is not handed to the team it runs in.
      run_capped(10, 2, 1, [&](int, int64_t begin, int64_t end) { inner_items += end - begin; });
    });
    EXPECT_EQ(inner_items.load(), 40);
  });
  // An arena without workers: no helper can join, and the leader runs it all.
  tbb::task_arena alone(1);
  alone.execute([&] {
    SpinTeam team(4);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    EXPECT_EQ(team.members(), 1);
    int64_t covered = 0;
    run_capped(100, 4, 7, [&](int, int64_t begin, int64_t end) { covered += end - begin; });
    EXPECT_EQ(covered, 100);
  });
  EXPECT_EQ(SpinTeam::led_by_this_thread(), nullptr);
}

}  // namespace
}  // namespace sparq::cpu
