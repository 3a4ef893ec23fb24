#include "s3/chunked.hpp"

#include "core/crypto.hpp"
#include "core/strings.hpp"

#include <algorithm>

namespace airfleet::s3 {

namespace {
class category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "airfleet.s3.chunked"; }
  std::string message(int ev) const override {
    return static_cast<chunked_errc>(ev) == chunked_errc::signature ? "chunk signature mismatch"
                                                                   : "malformed aws-chunked body";
  }
};
constexpr std::size_t max_line = 4096;
constexpr std::size_t max_trailer_bytes = 16 * 1024;
const std::string empty_sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

core::error malformed(std::string message) { return core::make_error(chunked_errc::malformed, std::move(message)); }
}  // namespace

std::error_code make_error_code(chunked_errc e) {
  static const category instance;
  return {static_cast<int>(e), instance};
}

aws_chunked_decoder::aws_chunked_decoder(std::optional<chunk_signing> signing, bool trailer)
    : signing_(std::move(signing)), expect_trailer_(trailer) {
  if (signing_) previous_signature_ = signing_->seed_signature;
}

core::result<void> aws_chunked_decoder::feed(std::string_view in, const sink& out) {
  while (!in.empty()) {
    switch (state_) {
      case state::header:
      case state::trailer: {
        auto nl = in.find('\n');
        auto take = nl == std::string_view::npos ? in.size() : nl + 1;
        line_.append(in.substr(0, take));
        in.remove_prefix(take);
        if (line_.size() > max_line) return malformed("An aws-chunked header line is too long");
        if (line_.back() != '\n') break;
        if (line_.size() < 2 || line_[line_.size() - 2] != '\r') return malformed("aws-chunked lines end with CRLF");
        std::string line = line_.substr(0, line_.size() - 2);
        line_.clear();
        if (state_ == state::header) {
          if (auto r = header_line(line); !r) return r;
        } else {
          if (auto r = trailer_line(line); !r) return r;
        }
        break;
      }
      case state::data: {
        auto take = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, in.size()));
        auto piece = in.substr(0, take);
        if (signing_) chunk_hash_.update(piece);
        if (auto r = out(piece); !r) return r;
        remaining_ -= take;
        in.remove_prefix(take);
        if (remaining_ == 0) state_ = state::data_crlf;
        break;
      }
      case state::data_crlf: {
        auto take = std::min<std::size_t>(in.size(), 2 - line_.size());
        line_.append(in.substr(0, take));
        in.remove_prefix(take);
        if (line_.size() < 2) break;
        if (line_ != "\r\n") return malformed("An aws-chunked chunk does not end with CRLF");
        line_.clear();
        if (auto r = check_chunk_signature(); !r) return r;
        state_ = state::header;
        break;
      }
      case state::done:
        return malformed("Bytes after the end of an aws-chunked body");
    }
  }
  return {};
}

core::result<void> aws_chunked_decoder::header_line(std::string_view line) {
  auto semi = line.find(';');
  auto size_text = core::trim(line.substr(0, semi));
  if (size_text.empty() || size_text.size() > 15) return malformed("Bad aws-chunked chunk size");
  std::uint64_t size = 0;
  for (char c : size_text) {
    int v;
    if (c >= '0' && c <= '9') v = c - '0';
    else if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') v = c - 'A' + 10;
    else return malformed("Bad aws-chunked chunk size");
    size = size * 16 + static_cast<std::uint64_t>(v);
  }
  chunk_signature_.clear();
  if (semi != std::string_view::npos) {
    auto ext = line.substr(semi + 1);
    constexpr std::string_view tag = "chunk-signature=";
    if (ext.substr(0, tag.size()) == tag) chunk_signature_ = std::string(ext.substr(tag.size()));
  }
  if (signing_ && chunk_signature_.empty()) return malformed("A signed aws-chunked chunk has no chunk-signature");
  chunk_hash_ = core::hasher(core::hasher::kind::sha256);
  remaining_ = size;
  if (size > 0) {
    state_ = state::data;
    return {};
  }
  // The last chunk: it is signed over the empty string.
  if (auto r = check_chunk_signature(); !r) return r;
  state_ = state::trailer;
  return {};
}

core::result<void> aws_chunked_decoder::check_chunk_signature() {
  if (!signing_) return {};
  auto chunk_hex = core::to_hex(reinterpret_cast<const unsigned char*>(chunk_hash_.finish_raw().data()), 32);
  std::string to_sign = "AWS4-HMAC-SHA256-PAYLOAD\n" + signing_->amz_date + "\n" + signing_->scope + "\n" +
                        previous_signature_ + "\n" + empty_sha256 + "\n" + chunk_hex;
  auto expected = core::to_hex(core::hmac_sha256(signing_->key, to_sign));
  if (!core::constant_time_equal(expected, chunk_signature_))
    return core::make_error(chunked_errc::signature,
                            "The request signature we calculated does not match the signature you provided.");
  previous_signature_ = chunk_signature_;
  return {};
}

core::result<void> aws_chunked_decoder::trailer_line(std::string_view line) {
  trailer_bytes_ += line.size() + 2;
  if (trailer_bytes_ > max_trailer_bytes) return malformed("The aws-chunked trailer is too large");
  if (line.empty()) {
    if (signing_ && expect_trailer_) {
      if (trailer_signature_.empty()) return malformed("The aws-chunked trailer has no x-amz-trailer-signature");
      std::string canonical;
      for (const auto& [k, v] : trailers_) canonical += k + ":" + v + "\n";
      std::string to_sign = "AWS4-HMAC-SHA256-TRAILER\n" + signing_->amz_date + "\n" + signing_->scope + "\n" +
                            previous_signature_ + "\n" + core::sha256_hex(canonical);
      auto expected = core::to_hex(core::hmac_sha256(signing_->key, to_sign));
      if (!core::constant_time_equal(expected, trailer_signature_))
        return core::make_error(chunked_errc::signature,
                                "The request signature we calculated does not match the signature you provided.");
    }
    state_ = state::done;
    return {};
  }
  if (!expect_trailer_) return malformed("Unexpected trailing headers in an aws-chunked body");
  auto colon = line.find(':');
  if (colon == std::string_view::npos) return malformed("Bad aws-chunked trailing header");
  auto name = core::to_lower(core::trim(line.substr(0, colon)));
  auto value = std::string(core::trim(line.substr(colon + 1)));
  if (name == "x-amz-trailer-signature") trailer_signature_ = value;
  else trailers_.emplace_back(std::move(name), std::move(value));
  return {};
}

}  // namespace airfleet::s3
