#include "s3/blob_store.hpp"

#include "core/crypto.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <random>
#include <unordered_set>

namespace airfleet::s3 {
namespace {

namespace fs = std::filesystem;

// The layout in blob_store.hpp: "AFB1", chunk size, wrap nonce, wrapped key,
// wrap tag, nonce prefix, plaintext size.
constexpr std::size_t header_bytes = 4 + 4 + 12 + 32 + 16 + 4 + 8;
constexpr std::size_t size_field_offset = header_bytes - 8;
constexpr std::size_t tag_bytes = 16;
constexpr std::size_t chunk = encrypted_chunk_bytes;

std::string file_contents(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_file(const fs::path& path, std::string_view data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

// Flipping the same bit again restores the file.
void flip_bit(const fs::path& path, std::uint64_t offset, int bit = 0) {
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(fd, 0) << path;
  char byte = 0;
  ASSERT_EQ(::pread(fd, &byte, 1, static_cast<off_t>(offset)), 1) << offset;
  byte = static_cast<char>(byte ^ (1 << bit));
  ASSERT_EQ(::pwrite(fd, &byte, 1, static_cast<off_t>(offset)), 1);
  ::close(fd);
}

std::uint64_t chunk_offset(std::uint64_t index) {
  return header_bytes + index * (chunk + tag_bytes);
}

std::size_t files_in(const fs::path& dir) {
  return static_cast<std::size_t>(
      std::distance(fs::directory_iterator(dir), fs::directory_iterator()));
}

class blob_store_test : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("blob_store_test-" + core::random_string(12, "abcdefghijklmnop"));
    fs::create_directories(root_);
    store_ = std::make_unique<blob_store>(root_ / "blobs", master_key(core::random_bytes(32)));
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(root_);
  }

  blob_info put(std::string_view data, bool encrypt, std::size_t piece = 10'000) {
    auto w = store_->create(encrypt);
    EXPECT_TRUE(w.has_value());
    for (std::size_t at = 0; at < data.size(); at += piece) {
      EXPECT_TRUE(w->write(data.substr(at, piece)).has_value());
    }
    EXPECT_EQ(w->size(), data.size());
    auto info = w->commit();
    EXPECT_TRUE(info.has_value());
    return *info;
  }

  fs::path file_of(const std::string& id) const { return store_->dir() / id.substr(0, 2) / id; }

  static std::string read_all(blob_reader& r, std::size_t piece = 7'777) {
    std::string out;
    std::string buffer(piece, '\0');
    for (;;) {
      auto n = r.read(out.size(), buffer.data(), buffer.size());
      EXPECT_TRUE(n.has_value());
      if (!n || *n == 0) return out;
      out.append(buffer.data(), *n);
    }
  }

  static std::error_code read_error(blob_reader& r, std::uint64_t offset, std::size_t n) {
    std::string buffer(n, '\0');
    auto got = r.read(offset, buffer.data(), n);
    return got ? std::error_code() : got.error().code;
  }

  fs::path root_;
  std::unique_ptr<blob_store> store_;
};

TEST_F(blob_store_test, round_trips_plain_and_encrypted_bodies_with_partial_reads) {
  std::mt19937_64 rng(42);
  for (bool encrypt : {false, true}) {
    for (std::size_t size :
         {std::size_t{0}, std::size_t{1}, chunk - 1, chunk, chunk + 1, 3 * chunk + 5}) {
      SCOPED_TRACE(testing::Message() << "encrypt=" << encrypt << " size=" << size);
      std::string data = core::random_bytes(size);
      blob_info info = put(data, encrypt, 1 + rng() % 30'000);
      EXPECT_EQ(info.size, size);
      EXPECT_EQ(info.encrypted, encrypt);
      EXPECT_EQ(info.id.size(), 32u);
      EXPECT_EQ(info.id.find_first_not_of("0123456789abcdef"), std::string::npos);

      std::uint64_t chunks = size == 0 ? 1 : (size + chunk - 1) / chunk;
      EXPECT_EQ(fs::file_size(file_of(info.id)),
                encrypt ? header_bytes + size + chunks * tag_bytes : size);

      auto r = store_->open(info.id);
      ASSERT_TRUE(r.has_value()) << r.error().message;
      EXPECT_EQ(r->size(), size);
      EXPECT_EQ(r->encrypted(), encrypt);
      EXPECT_EQ(r->plain_fd() >= 0, !encrypt);
      EXPECT_EQ(read_all(*r), data);

      // Random ranges, many of them straddling a chunk boundary.
      std::string buffer(3 * chunk, '\0');
      for (int i = 0; i < 200 && size > 0; ++i) {
        std::uint64_t offset = rng() % size;
        if (i % 2 == 0) {
          std::uint64_t boundary = (rng() % (size / chunk + 1)) * chunk;
          offset =
              std::min<std::uint64_t>(size - 1, boundary >= 10 ? boundary - rng() % 10 : boundary);
        }
        std::size_t n = 1 + rng() % (i % 3 == 0 ? buffer.size() : 100);
        auto got = r->read(offset, buffer.data(), n);
        ASSERT_TRUE(got.has_value()) << got.error().message;
        ASSERT_EQ(*got, std::min<std::uint64_t>(n, size - offset));
        ASSERT_EQ(std::string_view(buffer.data(), *got),
                  std::string_view(data).substr(offset, *got));
      }
      auto past_end = r->read(size, buffer.data(), 10);
      ASSERT_TRUE(past_end.has_value());
      EXPECT_EQ(*past_end, 0u);
    }
  }
}

TEST_F(blob_store_test, encrypted_file_and_its_temporary_hold_no_plaintext) {
  std::string data = core::random_bytes(3 * chunk + 5);
  auto find_plaintext = [&](const std::string& file) {
    std::unordered_set<std::string_view> windows;
    for (std::size_t i = 0; i + 16 <= file.size(); ++i)
      windows.insert(std::string_view(file).substr(i, 16));
    for (std::size_t i = 0; i + 16 <= data.size(); ++i) {
      if (windows.contains(std::string_view(data).substr(i, 16))) return true;
    }
    return false;
  };

  auto w = store_->create(true);
  ASSERT_TRUE(w.has_value());
  ASSERT_TRUE(w->write(std::string_view(data).substr(0, 2 * chunk + 100)).has_value());
  ASSERT_EQ(files_in(store_->dir() / "tmp"), 1u);
  std::string temporary = file_contents(fs::directory_iterator(store_->dir() / "tmp")->path());
  EXPECT_GE(temporary.size(), header_bytes + chunk + tag_bytes);  // at least one chunk sealed
  EXPECT_FALSE(find_plaintext(temporary));
  ASSERT_TRUE(w->write(std::string_view(data).substr(2 * chunk + 100)).has_value());
  auto info = w->commit();
  ASSERT_TRUE(info.has_value());
  EXPECT_FALSE(find_plaintext(file_contents(file_of(info->id))));

  // The check itself works: a plain blob is found out.
  EXPECT_TRUE(find_plaintext(file_contents(file_of(put(data, false).id))));
}

TEST_F(blob_store_test, a_different_master_key_cannot_open_an_encrypted_blob) {
  blob_info info = put("secret body", true);
  blob_store other(store_->dir(), master_key(core::random_bytes(32)));
  auto r = other.open(info.id);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, errc::wrong_key);
  // A plain blob does not care.
  blob_info plain = put("public body", false);
  EXPECT_TRUE(other.open(plain.id).has_value());
}

TEST_F(blob_store_test, a_flipped_bit_fails_reads_of_its_chunk_only) {
  std::string data = core::random_bytes(3 * chunk + 5);
  blob_info info = put(data, true);
  flip_bit(file_of(info.id), chunk_offset(1) + 1234, 3);

  auto r = store_->open(info.id);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  std::string buffer(2 * chunk, '\0');
  for (int round = 0; round < 2; ++round) {  // a failure is not cached as success
    EXPECT_EQ(read_error(*r, chunk + 5, 10), errc::corrupt);
    EXPECT_EQ(read_error(*r, chunk - 5, 10), errc::corrupt);  // straddles chunks 0 and 1
    EXPECT_EQ(read_error(*r, 2 * chunk - 1, 2), errc::corrupt);
  }
  for (std::uint64_t offset : {std::uint64_t{0}, chunk - 10, 2 * chunk, 3 * chunk}) {
    auto got = r->read(offset, buffer.data(), 10);
    ASSERT_TRUE(got.has_value()) << offset << ": " << got.error().message;
    EXPECT_EQ(std::string_view(buffer.data(), *got), std::string_view(data).substr(offset, *got));
  }
}

TEST_F(blob_store_test, a_flipped_bit_in_a_tag_or_the_first_chunk_is_caught) {
  std::string data = core::random_bytes(3 * chunk + 5);
  blob_info last_tag = put(data, true);
  flip_bit(fs::path(file_of(last_tag.id)), fs::file_size(file_of(last_tag.id)) - 1);
  auto r = store_->open(last_tag.id);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(read_error(*r, 3 * chunk, 5), errc::corrupt);

  blob_info first = put(data, true);
  flip_bit(file_of(first.id), chunk_offset(0) + 7);
  auto opened = store_->open(first.id);
  ASSERT_FALSE(opened.has_value());
  EXPECT_EQ(opened.error().code, errc::corrupt);
}

TEST_F(blob_store_test, every_flipped_header_bit_fails_at_open) {
  for (std::size_t size : {std::size_t{0}, std::size_t{100}, chunk + 1}) {
    blob_info info = put(core::random_bytes(size), true);
    const fs::path path = file_of(info.id);
    for (std::size_t byte = 0; byte < header_bytes; ++byte) {
      for (int bit = 0; bit < 8; ++bit) {
        flip_bit(path, byte, bit);
        auto r = store_->open(info.id);
        ASSERT_FALSE(r.has_value()) << "size " << size << " byte " << byte << " bit " << bit;
        EXPECT_TRUE(r.error().code == errc::corrupt || r.error().code == errc::wrong_key)
            << r.error().message;
        flip_bit(path, byte, bit);
      }
    }
    EXPECT_TRUE(store_->open(info.id).has_value());
  }
}

TEST_F(blob_store_test, truncated_files_are_refused) {
  std::string data = core::random_bytes(3 * chunk + 5);
  blob_info info = put(data, true);
  const fs::path path = file_of(info.id);
  const std::string original = file_contents(path);
  for (std::size_t cut :
       {std::size_t{1}, std::size_t{21}, 5 + tag_bytes, original.size() - header_bytes,
        original.size() - header_bytes + 1, original.size()}) {
    write_file(path, std::string_view(original).substr(0, original.size() - cut));
    auto r = store_->open(info.id);
    ASSERT_FALSE(r.has_value()) << cut;
    EXPECT_EQ(r.error().code, errc::corrupt) << cut;
  }
}

TEST_F(blob_store_test, truncation_with_a_rewritten_size_field_is_refused) {
  auto set_size = [](std::string& file, std::uint64_t size) {
    for (int i = 0; i < 8; ++i)
      file[size_field_offset + i] = static_cast<char>(size >> (8 * (7 - i)));
  };
  // Two chunks cut to one: the surviving chunk was not sealed as the last.
  blob_info two = put(core::random_bytes(chunk + 1), true);
  std::string file = file_contents(file_of(two.id)).substr(0, chunk_offset(1));
  set_size(file, chunk);
  write_file(file_of(two.id), file);
  auto r = store_->open(two.id);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, errc::corrupt);

  // One byte cut to nothing, claiming an empty body.
  blob_info one = put("x", true);
  file = file_contents(file_of(one.id)).substr(0, header_bytes);
  set_size(file, 0);
  write_file(file_of(one.id), file);
  r = store_->open(one.id);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, errc::corrupt);
}

TEST_F(blob_store_test, a_plain_body_that_looks_like_an_encrypted_header_reads_back_verbatim) {
  std::string data = "AFB1" + std::string(200, '\0');
  blob_info info = put(data, false);
  auto r = store_->open(info.id);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_FALSE(r->encrypted());
  EXPECT_EQ(read_all(*r), data);
}

TEST_F(blob_store_test, an_uncommitted_writer_leaves_nothing_behind) {
  for (bool encrypt : {false, true}) {
    {
      auto w = store_->create(encrypt);
      ASSERT_TRUE(w.has_value());
      ASSERT_TRUE(w->write(core::random_bytes(chunk + 3)).has_value());
      EXPECT_EQ(files_in(store_->dir() / "tmp"), 1u);
      blob_writer moved = std::move(*w);  // the moved-from writer owns nothing
    }
    EXPECT_TRUE(store_->list().empty());
    EXPECT_EQ(files_in(store_->dir() / "tmp"), 0u);
  }
}

TEST_F(blob_store_test, clear_temporary_removes_leftovers_and_keeps_blobs) {
  blob_info kept = put("kept", false);
  write_file(store_->dir() / "tmp" / "0123456789abcdef0123456789abcdef", "cut short by a crash");
  write_file(store_->dir() / "tmp" / "junk", "x");
  store_->clear_temporary();
  EXPECT_EQ(files_in(store_->dir() / "tmp"), 0u);
  EXPECT_EQ(store_->list(), std::vector<std::string>{kept.id});
}

TEST_F(blob_store_test, list_exists_remove_and_missing_blobs) {
  blob_info a = put("a", false);
  blob_info b = put("b", true);
  std::vector<std::string> expected{a.id, b.id};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(store_->list(), expected);
  EXPECT_TRUE(store_->exists(a.id));

  store_->remove(a.id);
  store_->remove(a.id);  // already gone: fine
  EXPECT_FALSE(store_->exists(a.id));
  EXPECT_EQ(store_->list(), std::vector<std::string>{b.id});
  auto missing = store_->open(a.id);
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, errc::not_found);
  for (std::string bad : {"", "../../etc/passwd", "ABCDEF0123456789ABCDEF0123456789", "tmp"}) {
    EXPECT_FALSE(store_->exists(bad));
    auto r = store_->open(bad);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, errc::not_found);
  }
}

TEST_F(blob_store_test, master_key_is_created_private_and_reloads_identical) {
  const fs::path path = root_ / "master.key";
  auto created = master_key::load_or_create(path);
  ASSERT_TRUE(created.has_value()) << created.error().message;
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_size, 32);
  const std::string bytes = file_contents(path);

  auto reloaded = master_key::load_or_create(path);
  ASSERT_TRUE(reloaded.has_value()) << reloaded.error().message;
  EXPECT_EQ(file_contents(path), bytes);
  const std::string data_key = core::random_bytes(32);
  auto unwrapped = reloaded->unwrap(created->wrap(data_key));
  ASSERT_TRUE(unwrapped.has_value());
  EXPECT_EQ(*unwrapped, data_key);

  // Blobs written under one load open under the other.
  blob_store first(root_ / "keyed", *created);
  blob_store second(root_ / "keyed", *reloaded);
  auto w = first.create(true);
  ASSERT_TRUE(w.has_value());
  ASSERT_TRUE(w->write("hello").has_value());
  auto info = w->commit();
  ASSERT_TRUE(info.has_value());
  auto r = second.open(info->id);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(read_all(*r), "hello");
}

TEST_F(blob_store_test, a_master_key_file_of_the_wrong_length_is_refused) {
  const fs::path path = root_ / "master.key";
  for (std::size_t length : {0, 31, 33, 64}) {
    write_file(path, std::string(length, 'k'));
    auto key = master_key::load_or_create(path);
    ASSERT_FALSE(key.has_value()) << length;
    EXPECT_EQ(key.error().code, errc::io);
    EXPECT_NE(key.error().message.find(path.string()), std::string::npos) << key.error().message;
    EXPECT_EQ(file_contents(path), std::string(length, 'k'));  // left as found
  }
}

TEST_F(blob_store_test, unwrap_with_the_wrong_master_key_says_so) {
  master_key a(core::random_bytes(32)), b(core::random_bytes(32));
  auto r = b.unwrap(a.wrap(core::random_bytes(32)));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, errc::wrong_key);
  EXPECT_STREQ(r.error().code.category().name(), "s3.blob");
}

}  // namespace
}  // namespace airfleet::s3
