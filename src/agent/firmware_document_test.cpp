#include "agent/firmware_document.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace airfleet::agent {
namespace {

const std::string checksum = "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08";

boost::json::object recipe() {
  return boost::json::parse(R"({
    "operation": "firmwareUpdate",
    "firmwareVersion": "2.1.0",
    "downloadUrl": "http://127.0.0.1:8080/iot-firmware/firmware/firmware-2.1.0.bin?X-Amz-Signature=abc",
    "checksumAlgorithm": "SHA256",
    "checksum": ")" + checksum +
                            R"(",
    "installationSteps": ["Download firmware package from specified URL", "Validate package integrity using checksum"],
    "rollbackInstructions": {"enabled": true, "maxAttempts": 3, "fallbackVersion": "v2.0.0"},
    "timeoutConfig": {"inProgressTimeoutInMinutes": 30, "stepTimeoutInMinutes": 10}
  })")
      .as_object();
}

TEST(FirmwareDocument, ReadsTheRecipesDocument) {
  auto u = parse_firmware_document(recipe());
  ASSERT_TRUE(u) << u.error().message;
  EXPECT_EQ(u->version, "2.1.0");
  EXPECT_EQ(u->url.substr(0, 22), "http://127.0.0.1:8080/");
  EXPECT_EQ(u->checksum, "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
  EXPECT_EQ(u->max_attempts, 3);
  EXPECT_EQ(u->step_timeout_minutes, 10);
}

TEST(FirmwareDocument, DefaultsToOneAttempt) {
  auto doc = recipe();
  doc.erase("rollbackInstructions");
  EXPECT_EQ(parse_firmware_document(doc)->max_attempts, 1);
  doc["rollbackInstructions"] = {{"enabled", false}, {"maxAttempts", 5}};
  EXPECT_EQ(parse_firmware_document(doc)->max_attempts, 1);
  doc["rollbackInstructions"] = {{"enabled", true}, {"maxAttempts", 1000}};
  EXPECT_EQ(parse_firmware_document(doc)->max_attempts, max_install_attempts);
  doc["rollbackInstructions"] = {{"enabled", true}, {"maxAttempts", 0}};
  EXPECT_EQ(parse_firmware_document(doc)->max_attempts, 1);
}

TEST(FirmwareDocument, RefusesWithAReason) {
  struct bad {
    const char* member;
    std::string value;  // empty: the member is left out
    const char* reason;
  };
  for (const auto& b : std::vector<bad>{
           {"operation", "reboot", "unsupported operation 'reboot'"},
           {"firmwareVersion", "", "no firmwareVersion"},
           {"downloadUrl", "ftp://example.com/fw.bin", "http or https"},
           {"downloadUrl", "${aws:iot:s3-presigned-url:https://s3.amazonaws.com/b/k}", "unresolved placeholder"},
           {"checksumAlgorithm", "MD5", "unsupported checksumAlgorithm 'MD5'"},
           {"checksum", "abc", "64 hex digits"},
           {"checksum", std::string(64, 'g'), "64 hex digits"},
       }) {
    auto doc = recipe();
    if (b.value.empty())
      doc.erase(b.member);
    else
      doc[b.member] = b.value;
    auto u = parse_firmware_document(doc);
    ASSERT_FALSE(u) << b.member;
    EXPECT_NE(u.error().message.find(b.reason), std::string::npos) << u.error().message;
  }
  EXPECT_FALSE(parse_firmware_document(boost::json::object{}));
}

TEST(FirmwareDocument, AcceptsSha256Spellings) {
  auto doc = recipe();
  for (const char* name : {"SHA256", "sha256", "SHA-256"}) {
    doc["checksumAlgorithm"] = name;
    EXPECT_TRUE(parse_firmware_document(doc)) << name;
  }
}

}  // namespace
}  // namespace airfleet::agent
