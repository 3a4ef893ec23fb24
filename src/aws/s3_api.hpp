// The S3 API (rest-xml, SigV4 service "s3", path-style addressing) that
// serves the firmware store: buckets, versioned objects encrypted at rest,
// multipart uploads, ranges, conditional requests and presigned URLs.
//
// Requests stream (http::exchange): an upload is hashed (MD5 for the ETag,
// SHA-256 against X-Amz-Content-SHA256, any x-amz-checksum-*) while it is
// written to a temporary blob, and becomes visible only after the blob is
// fsync'd into place and its row committed; a download is sent from the
// blob file (sendfile for plain blobs, chunk by chunk through decryption
// for encrypted ones). No body is ever held whole in memory.
//
// Authentication: SigV4 header or query (presigned, up to 7 days), SigV2
// query (boto3's presigned default); anonymous requests are refused.
// Errors are S3's XML <Error> documents with S3's codes and statuses.
#pragma once

#include "auth/authenticator.hpp"
#include "core/time.hpp"
#include "http/server.hpp"
#include "s3/blob_store.hpp"
#include "s3/xml.hpp"
#include "storage/s3_store.hpp"

#include <boost/asio/thread_pool.hpp>

#include <chrono>
#include <cstdint>
#include <string>

namespace airfleet::aws {

class s3_api {
 public:
  struct settings {
    std::string region;
    std::string owner_id;  // the account id, shown as the owner
    std::uint64_t max_object_bytes = 5ULL << 30;  // single PUT and each part (S3: 5 GiB)
    std::uint64_t min_part_bytes = 5ULL << 20;    // every part but the last (S3: 5 MiB)
    std::size_t max_document_bytes = 1 << 20;     // XML request bodies
  };
  s3_api(auth::authenticator& authenticator, storage::s3_store& store, s3::blob_store& blobs,
         boost::asio::thread_pool& blocking, const core::clock& clock, settings s);

  boost::asio::awaitable<void> handle(http::exchange& ex);

  // Startup: removes temporary files and blobs no row refers to (a crash
  // between writing a blob and committing its row leaves one).
  void sweep_orphans();
  // Aborts multipart uploads started more than `max_age` ago.
  void sweep_uploads(std::chrono::seconds max_age);

  // For the jobs engine: the bytes of an object (documentSource), bounded.
  core::result<std::string> read_object(const std::string& bucket, const std::string& key, std::size_t max_bytes);

 private:
  struct call;
  boost::asio::awaitable<void> dispatch(call& c);
  boost::asio::awaitable<void> bucket_operation(call& c);
  boost::asio::awaitable<void> object_operation(call& c);

  boost::asio::awaitable<void> create_bucket(call& c);
  boost::asio::awaitable<void> delete_bucket(call& c);
  boost::asio::awaitable<void> put_versioning(call& c);
  boost::asio::awaitable<void> put_encryption(call& c);
  boost::asio::awaitable<void> delete_encryption(call& c);
  boost::asio::awaitable<void> list_buckets(call& c);
  boost::asio::awaitable<void> list_objects(call& c, bool v2);
  boost::asio::awaitable<void> list_versions(call& c);
  boost::asio::awaitable<void> list_uploads(call& c);
  boost::asio::awaitable<void> delete_objects(call& c);

  boost::asio::awaitable<void> put_object(call& c);
  boost::asio::awaitable<void> copy_object(call& c);
  boost::asio::awaitable<void> get_object(call& c, bool head);
  boost::asio::awaitable<void> delete_object(call& c);
  boost::asio::awaitable<void> create_upload(call& c);
  boost::asio::awaitable<void> upload_part(call& c);
  boost::asio::awaitable<void> complete_upload(call& c);
  boost::asio::awaitable<void> abort_upload(call& c);
  boost::asio::awaitable<void> list_parts(call& c);

  struct ingested;
  boost::asio::awaitable<core::result<ingested>> ingest(call& c, s3::blob_writer& writer);
  boost::asio::awaitable<core::result<std::string>> read_document(call& c);
  boost::asio::awaitable<std::optional<s3::xml_element>> read_xml(call& c, std::string_view root);
  template <class F>
  boost::asio::awaitable<std::invoke_result_t<F>> on_blocking(F f);
  void remove_blobs(const std::vector<std::string>& ids);
  core::result<storage::s3_bucket_row> bucket(const std::string& name);
  core::result<std::vector<std::string>> delete_one(const std::string& bucket, const std::string& key,
                                                    const std::optional<std::string>& version_id,
                                                    const storage::s3_bucket_row& b, bool& marker,
                                                    std::string& version_out);

  auth::authenticator& authenticator_;
  storage::s3_store& store_;
  s3::blob_store& blobs_;
  boost::asio::thread_pool& blocking_;
  const core::clock& clock_;
  settings settings_;
};

}  // namespace airfleet::aws
