// The firmware store as the jobs engine sees it: presigned URLs for the
// `${aws:iot:s3-presigned-url:<url>}` placeholders of job documents, and job
// documents read from the store (`documentSource`).
//
// Accepted URL forms (those AWS accepts, plus airfleet's own):
//   https://s3.amazonaws.com/<bucket>/<key>        https://<bucket>.s3.amazonaws.com/<key>
//   https://s3.<region>.amazonaws.com/<bucket>/<key>  https://s3-<region>.amazonaws.com/<bucket>/<key>
//   https://<bucket>.s3.<region>.amazonaws.com/<key>  https://<bucket>.s3-<region>.amazonaws.com/<key>
//   s3://<bucket>/<key>                            <public url>/<bucket>/<key>
// The link points at the public URL (`--public-url`) and is signed (SigV4,
// GET, only Host signed) with a key of the server's own that the
// authenticator accepts for presigned S3 GET/HEAD and nothing else; it is
// derived from the data directory's token secret, so links survive restarts.
#pragma once

#include "auth/authenticator.hpp"
#include "auth/presign.hpp"
#include "aws/s3_api.hpp"
#include "jobs/engine.hpp"

#include <memory>
#include <optional>
#include <string>

namespace airfleet::server {

struct s3_location {
  std::string bucket;
  std::string raw_key;  // as it appears in the URL (percent-encoded)
};
std::optional<s3_location> parse_s3_url(const std::string& url, const std::string& public_url);

class firmware_links final : public jobs::url_presigner, public jobs::document_source {
 public:
  firmware_links(aws::s3_api& s3, auth::authenticator& authenticator, const core::clock& clock,
                 std::string public_url, std::string region, const std::string& token_secret);
  core::result<std::string> presign(const std::string& s3_url, std::int64_t expires_in_sec) override;
  core::result<std::string> read(const std::string& s3_url) override;

 private:
  aws::s3_api& s3_;
  const core::clock& clock_;
  std::string public_url_;
  std::unique_ptr<auth::presigner> presigner_;  // the server's own key
};

}  // namespace airfleet::server
