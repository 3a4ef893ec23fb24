// aws-chunked: the body framing of S3 streaming uploads
// (Content-Encoding: aws-chunked, X-Amz-Content-SHA256 one of
// STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER] or
// STREAMING-UNSIGNED-PAYLOAD-TRAILER):
//
//   <hex size>[;chunk-signature=<sig>]\r\n <bytes> \r\n   ... repeated
//   0[;chunk-signature=<sig>]\r\n
//   [<trailer name>:<value>\r\n ...]  [x-amz-trailer-signature:<sig>\r\n]
//   \r\n
//
// A signed chunk's signature chains from the request's (seed) signature:
//   HMAC(key, "AWS4-HMAC-SHA256-PAYLOAD\n" date "\n" scope "\n" previous "\n"
//             hex(sha256("")) "\n" hex(sha256(chunk)))
// and the trailer's from the last chunk's:
//   HMAC(key, "AWS4-HMAC-SHA256-TRAILER\n" date "\n" scope "\n" previous "\n"
//             hex(sha256("name:value\n"...)))
// The decoder is a push parser: bytes in any split, body bytes out.
#pragma once

#include "core/digest.hpp"
#include "core/error.hpp"

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace airfleet::s3 {

enum class chunked_errc {
  malformed = 1,  // the framing is broken (IncompleteBody / InvalidRequest)
  signature,      // a chunk or trailer signature does not match (SignatureDoesNotMatch)
};
std::error_code make_error_code(chunked_errc e);

struct chunk_signing {
  std::string key;             // the SigV4 signing key of the request
  std::string amz_date;        // X-Amz-Date
  std::string scope;           // date/region/service/aws4_request
  std::string seed_signature;  // the request's signature
};

class aws_chunked_decoder {
 public:
  // `signing` absent: chunks carry no signatures (STREAMING-UNSIGNED-PAYLOAD-TRAILER).
  aws_chunked_decoder(std::optional<chunk_signing> signing, bool trailer);
  using sink = std::function<core::result<void>(std::string_view)>;
  core::result<void> feed(std::string_view in, const sink& out);
  bool done() const { return state_ == state::done; }
  // Trailing headers (names lower-cased), once done().
  const std::vector<std::pair<std::string, std::string>>& trailers() const { return trailers_; }

 private:
  enum class state { header, data, data_crlf, trailer, done };
  core::result<void> header_line(std::string_view line);
  core::result<void> trailer_line(std::string_view line);
  core::result<void> check_chunk_signature();
  std::optional<chunk_signing> signing_;
  bool expect_trailer_;
  state state_ = state::header;
  std::string line_;
  std::uint64_t remaining_ = 0;
  std::string chunk_signature_;
  std::string previous_signature_;
  core::hasher chunk_hash_{core::hasher::kind::sha256};
  std::size_t trailer_bytes_ = 0;
  std::string trailer_signature_;
  std::vector<std::pair<std::string, std::string>> trailers_;
};

}  // namespace airfleet::s3

template <>
struct std::is_error_code_enum<airfleet::s3::chunked_errc> : std::true_type {};
