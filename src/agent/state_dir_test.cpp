#include "agent/state_dir.hpp"

#include "agent/files.hpp"
#include "agent/test_support.hpp"

#include <gtest/gtest.h>

namespace airfleet::agent {
namespace {

using testing::scratch_dir;
using testing::slurp;
using testing::spill;

TEST(StateDir, StartsOnSlotAWithNoVersion) {
  scratch_dir dir;
  auto state = state_dir::open(dir.path() / "state");
  ASSERT_TRUE(state) << state.error().message;
  EXPECT_TRUE(std::filesystem::is_directory(dir.path() / "state/slots/a"));
  EXPECT_TRUE(std::filesystem::is_directory(dir.path() / "state/slots/b"));
  EXPECT_EQ(*state->active_slot(), "a");
  EXPECT_FALSE(*state->version());
  EXPECT_FALSE(*state->load_journal());
}

TEST(StateDir, SwitchesSlotsAndCommitsVersions) {
  scratch_dir dir;
  auto state = state_dir::open(dir.path());
  ASSERT_TRUE(state);
  ASSERT_TRUE(state->set_active_slot("b"));
  EXPECT_EQ(*state->active_slot(), "b");
  EXPECT_EQ(slurp(dir.path() / "active"), "b\n");
  ASSERT_TRUE(state->set_version("2.1.0"));
  EXPECT_EQ(state->version()->value(), "2.1.0");
  // No temporary files are left beside them.
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "active.tmp"));
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "version.tmp"));
  EXPECT_EQ(state_dir::other_slot("a"), "b");
  EXPECT_EQ(state_dir::other_slot("b"), "a");
}

TEST(StateDir, RefusesAnActiveFileItNeverWrote) {
  scratch_dir dir;
  spill(dir.path() / "active", "c\n");
  auto state = state_dir::open(dir.path());
  ASSERT_FALSE(state);
  EXPECT_NE(state.error().message.find("must hold a or b"), std::string::npos) << state.error().message;
}

TEST(StateDir, InstallsAnImageWhole) {
  scratch_dir dir;
  auto state = state_dir::open(dir.path());
  ASSERT_TRUE(state);
  std::string image(3 * 1024 * 1024 + 17, '\0');
  for (std::size_t i = 0; i < image.size(); ++i) image[i] = static_cast<char>(i * 31 % 251);
  spill(state->download_path(), image);
  ASSERT_TRUE(state->install_image("b", state->download_path()));
  EXPECT_TRUE(slurp(state->image_path("b")) == image);
  EXPECT_FALSE(std::filesystem::exists(state->image_path("b").string() + ".tmp"));
  auto digest = sha256_file(state->image_path("b"));
  ASSERT_TRUE(digest);
  EXPECT_EQ(*digest, core::sha256_hex(image));
}

TEST(StateDir, KeepsTheJournalUntilRemoved) {
  scratch_dir dir;
  auto state = state_dir::open(dir.path());
  ASSERT_TRUE(state);
  job_record r;
  r.job_id = "j1";
  r.execution_number = 1;
  r.version_number = 2;
  r.step = job_step::downloading;
  ASSERT_TRUE(state->save_journal(r));
  auto back = state->load_journal();
  ASSERT_TRUE(back && *back);
  EXPECT_EQ((*back)->job_id, "j1");
  EXPECT_EQ((*back)->step, job_step::downloading);
  state->remove_journal();
  EXPECT_FALSE(*state->load_journal());
}

TEST(StateDir, ReportsACorruptJournal) {
  scratch_dir dir;
  auto state = state_dir::open(dir.path());
  ASSERT_TRUE(state);
  spill(state->journal_path(), "{\"jobId\":");
  auto back = state->load_journal();
  ASSERT_FALSE(back);
}

}  // namespace
}  // namespace airfleet::agent
