// The shared SQL vocabulary: Param's kinds, Row::get's conversions and its errors, the
// portable conditions. The engines' mappings to those conditions are tested in
// modules/sqlite/tests and modules/pg/tests against real databases.
#include "tether/sql.hpp"

#include <gtest/gtest.h>

namespace {

namespace sql = tether::sql;

TEST(SqlParamTest, EachArgumentTypeGivesItsKind) {
  const sql::Blob blob = {std::byte{1}};
  const std::string text = "x";
  EXPECT_EQ(sql::Param(42).kind(), sql::Param::Kind::integer);
  EXPECT_EQ(sql::Param(42).integer(), 42);
  EXPECT_EQ(sql::Param(true).kind(), sql::Param::Kind::boolean);
  EXPECT_EQ(sql::Param(true).integer(), 1);
  EXPECT_EQ(sql::Param(2.5f).kind(), sql::Param::Kind::real);
  EXPECT_EQ(sql::Param(2.5f).real(), 2.5);
  EXPECT_EQ(sql::Param("lit").text(), "lit");
  EXPECT_EQ(sql::Param(text).kind(), sql::Param::Kind::text);
  EXPECT_EQ(sql::Param(blob).kind(), sql::Param::Kind::blob);
  EXPECT_EQ(sql::Param(blob).blob().size(), 1u);
  EXPECT_EQ(sql::Param(nullptr).kind(), sql::Param::Kind::null);
  EXPECT_EQ(sql::Param(std::optional<int>()).kind(), sql::Param::Kind::null);
  EXPECT_EQ(sql::Param(std::optional<int>(7)).integer(), 7);
}

TEST(SqlRowTest, GetConvertsEachValueToTheAskedType) {
  const sql::Blob blob = {std::byte{0}, std::byte{0xfe}};
  const sql::Row r({std::int64_t{42}, 2.5, std::string("héllo"), blob, sql::Null{}});
  EXPECT_EQ(r.get<std::int64_t>(0), 42);
  EXPECT_EQ(r.get<int>(0), 42);
  EXPECT_TRUE(r.get<bool>(0));
  EXPECT_EQ(r.get<double>(0), 42.0) << "an integer reads as double";
  EXPECT_EQ(r.get<double>(1), 2.5);
  EXPECT_EQ(r.get<std::string_view>(2), "héllo");
  EXPECT_EQ(r.get<sql::Blob>(3), blob);
  EXPECT_EQ(r.get<std::span<const std::byte>>(3).size(), 2u);
  EXPECT_TRUE(r.is_null(4));
  EXPECT_EQ(r.get<std::optional<std::string>>(4), std::nullopt);
  EXPECT_EQ(r.get<std::optional<int>>(0), 42);
}

TEST(SqlRowTest, AMismatchOrNullThrowsInvalidArgumentNamingTheColumn) {
  const sql::Row r({std::string("abc"), sql::Null{}, 1.5});
  try {
    (void)r.get<std::int64_t>(0);
    FAIL() << "text read as an integer did not throw";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "tether::sql: column 0 holds text (\"abc\"), not an integer");
  }
  EXPECT_THROW((void)r.get<std::string>(1), std::invalid_argument);
  EXPECT_THROW((void)r.get<std::int64_t>(2), std::invalid_argument) << "no double -> integer";
  EXPECT_THROW((void)r.get<int>(3), std::out_of_range);
}

TEST(SqlErrcTest, ConditionsHaveTheirOwnCategoryAndMessages) {
  const std::error_condition c = sql::errc::constraint_violation;
  EXPECT_EQ(c.category(), sql::category());
  EXPECT_STREQ(sql::category().name(), "tether.sql");
  EXPECT_EQ(c.message(), "constraint violation");
  EXPECT_NE(std::error_code(std::make_error_code(std::errc::io_error)), sql::errc::busy);
}

TEST(SqlRowsTest, RowsCarryColumnsAndTheAffectedCount) {
  const sql::Rows rows({"a"}, {sql::Row({std::int64_t{1}})}, 3);
  EXPECT_EQ(rows.columns().at(0), "a");
  EXPECT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows.affected(), 3);
  EXPECT_EQ(sql::Rows().affected(), 0);
}

}  // namespace
