// bench/paired_stats: the exact Wilcoxon signed-rank test bench_quality states its verdicts with,
// checked against p-values counted by hand from the sign patterns.
#include "bench/paired_stats.h"

#include <gtest/gtest.h>

namespace evosearch::bench {
namespace {

TEST(PairedStats, EveryPromptAheadHasTheSmallestPossibleP) {
  std::vector<double> a, b;
  for (int i = 0; i < 12; ++i) {
    a.push_back(1.0 + 0.1 * i);
    b.push_back(0.5);
  }
  const PairedComparison c = compare_paired(a, b);
  EXPECT_EQ(c.n, 12);
  EXPECT_EQ(c.wins, 12);
  EXPECT_EQ(c.losses, 0);
  EXPECT_DOUBLE_EQ(c.p_value, 2.0 / 4096);  // one sign pattern of 2^12 at each extreme
  EXPECT_EQ(verdict(c), "better");
  EXPECT_EQ(verdict(compare_paired(b, a)), "worse");
}

TEST(PairedStats, FivePromptsCannotReachFivePercent) {
  // All five ahead: p = 2/32 = 0.0625, so the verdict stays level however large the gap.
  const PairedComparison c = compare_paired({10, 10, 10, 10, 10}, {0, 1, 2, 3, 4});
  EXPECT_DOUBLE_EQ(c.p_value, 2.0 / 32);
  EXPECT_EQ(verdict(c), "level");
}

TEST(PairedStats, OneLossAmongTenCountsItsRank) {
  // Differences 1, 2, 3, -4, 5, ..., 10: the negative ranks sum to 4. Subsets of 1..10 summing
  // to at most 4: {}, {1}, {2}, {3}, {1,2}, {4}, {1,3} = 7, so p = 2 * 7 / 1024.
  std::vector<double> a{1, 2, 3, -4, 5, 6, 7, 8, 9, 10}, b(10, 0.0);
  const PairedComparison c = compare_paired(a, b);
  EXPECT_EQ(c.wins, 9);
  EXPECT_EQ(c.losses, 1);
  EXPECT_DOUBLE_EQ(c.mean_difference, 4.7);
  EXPECT_DOUBLE_EQ(c.p_value, 14.0 / 1024);
  EXPECT_EQ(c.direction, 1);
}

TEST(PairedStats, TiedMagnitudesShareTheirMeanRankAndZerosAreDropped) {
  // Differences 1, 1, -1, 2 and a zero: |d| ranks 2, 2, 2, 4 (the zero is left out). Positive
  // rank sum 8 of 10; of the 16 sign patterns, 4 reach at least 8 (the 2 positive with two or
  // three of the 1s), so p = 2 * 4 / 16.
  const PairedComparison c = compare_paired({1, 1, -1, 2, 3}, {0, 0, 0, 0, 3});
  EXPECT_EQ(c.n, 5);
  EXPECT_EQ(c.wins, 3);
  EXPECT_EQ(c.losses, 1);
  EXPECT_DOUBLE_EQ(c.p_value, 0.5);
  EXPECT_EQ(verdict(c), "level");
}

TEST(PairedStats, IdenticalRowsAreLevelWithPOne) {
  const PairedComparison c = compare_paired({0.3, -0.2, 1.5}, {0.3, -0.2, 1.5});
  EXPECT_EQ(c.wins + c.losses, 0);
  EXPECT_DOUBLE_EQ(c.p_value, 1.0);
  EXPECT_EQ(c.direction, 0);
  EXPECT_EQ(verdict(c), "level");
}

TEST(PairedStats, TheDirectionIsTheRankSumsNotTheMean) {
  // Eleven small wins and one large loss: the mean is negative, the ranks favour a.
  std::vector<double> a(12, 0.0), b(12, 0.0);
  for (int i = 0; i < 11; ++i) a[i] = 0.01 * (i + 1);
  b[11] = 100;
  const PairedComparison c = compare_paired(a, b);
  EXPECT_LT(c.mean_difference, 0);
  EXPECT_EQ(c.direction, 1);
  // Negative rank sum 12 of 78: patterns of 1..12 with sum <= 12 number 1+1+1+2+2+3+4+5+6+8+10+12+15 = 70.
  EXPECT_DOUBLE_EQ(c.p_value, 2.0 * 70 / 4096);
  EXPECT_EQ(verdict(c), "better");
}

TEST(PairedStats, RowsOfDifferentLengthsAreRefused) {
  EXPECT_THROW(compare_paired({1, 2}, {1}), std::invalid_argument);
}

}  // namespace
}  // namespace evosearch::bench
