// The S3 wire helpers: the XML reader, and aws-chunked decoding checked
// against the example in the S3 documentation ("Signature calculations for
// the Authorization header: transferring payload in multiple chunks").
#include "auth/sigv4.hpp"
#include "s3/chunked.hpp"
#include "s3/xml.hpp"

#include <gtest/gtest.h>

namespace airfleet::s3 {
namespace {

TEST(Xml, ParsesWhatClientsSend) {
  auto doc = parse_xml(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CompleteMultipartUpload "
      "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Part><ETag>&quot;abc&quot;</ETag><PartNumber>1</PartNumber>"
      "</Part><Part><ETag>\"def\"</ETag><PartNumber>2</PartNumber></Part></CompleteMultipartUpload>");
  ASSERT_TRUE(doc);
  EXPECT_EQ(doc->name, "CompleteMultipartUpload");
  auto parts = doc->all("Part");
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0]->child("ETag")->text, "\"abc\"");
  EXPECT_EQ(parts[1]->child("PartNumber")->text, "2");
}

TEST(Xml, DecodesEntitiesAndCharacterReferences) {
  auto doc = parse_xml("<Delete><Object><Key>a&amp;b&#x20AC;&#65;&lt;</Key></Object></Delete>");
  ASSERT_TRUE(doc);
  EXPECT_EQ(doc->child("Object")->child("Key")->text, "a&b\xE2\x82\xAC" "A<");
}

TEST(Xml, RefusesMalformedDocumentsAndDtds) {
  EXPECT_FALSE(parse_xml(""));
  EXPECT_FALSE(parse_xml("<a><b></a></b>"));
  EXPECT_FALSE(parse_xml("<a>unterminated"));
  EXPECT_FALSE(parse_xml("<a>&unknown;</a>"));
  EXPECT_FALSE(parse_xml("<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>"));
  EXPECT_FALSE(parse_xml("<a></a><b></b>"));
  std::string deep;
  for (int i = 0; i < 100; ++i) deep += "<a>";
  for (int i = 0; i < 100; ++i) deep += "</a>";
  EXPECT_FALSE(parse_xml(deep));
}

TEST(Xml, EscapesForResponses) { EXPECT_EQ(xml_escape("a<b>&\"'"), "a&lt;b&gt;&amp;&quot;&apos;"); }

// The S3 documentation's example: 66,560 bytes of 'a' in chunks of 65,536
// and 1,024, signed with the example key on 2013-05-24.
struct doc_example {
  std::string key = auth::signing_key("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "20130524", "us-east-1", "s3");
  chunk_signing signing{key, "20130524T000000Z", "20130524/us-east-1/s3/aws4_request",
                        "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"};
  std::string body() const {
    std::string b;
    b += "10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\n";
    b += std::string(65536, 'a') + "\r\n";
    b += "400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497\r\n";
    b += std::string(1024, 'a') + "\r\n";
    b += "0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n\r\n";
    return b;
  }
};

core::result<std::string> decode(aws_chunked_decoder& d, const std::string& body, std::size_t piece) {
  std::string out;
  for (std::size_t at = 0; at < body.size(); at += piece) {
    auto r = d.feed(std::string_view(body).substr(at, piece), [&](std::string_view data) -> core::result<void> {
      out.append(data);
      return {};
    });
    if (!r) return r.error();
  }
  return out;
}

TEST(AwsChunked, VerifiesTheDocumentationExampleInAnySplit) {
  doc_example ex;
  for (std::size_t piece : {1u, 7u, 1000u, 70000u}) {
    aws_chunked_decoder d(ex.signing, false);
    auto out = decode(d, ex.body(), piece);
    ASSERT_TRUE(out) << out.error().message;
    EXPECT_TRUE(d.done());
    EXPECT_EQ(*out, std::string(66560, 'a'));
  }
}

TEST(AwsChunked, RejectsAChangedByteOrSignature) {
  doc_example ex;
  auto body = ex.body();
  body[200] = 'b';  // inside the first chunk's data
  aws_chunked_decoder d(ex.signing, false);
  auto out = decode(d, body, 4096);
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().code, make_error_code(chunked_errc::signature));

  auto signing = ex.signing;
  signing.seed_signature[0] = signing.seed_signature[0] == '0' ? '1' : '0';
  aws_chunked_decoder wrong_seed(signing, false);
  EXPECT_FALSE(decode(wrong_seed, ex.body(), 4096));
}

TEST(AwsChunked, RejectsBrokenFraming) {
  aws_chunked_decoder d(std::nullopt, true);
  EXPECT_FALSE(decode(d, "zz\r\nab\r\n", 100));
  aws_chunked_decoder missing_crlf(std::nullopt, true);
  EXPECT_FALSE(decode(missing_crlf, "2\r\nabXX0\r\n\r\n", 100));
  aws_chunked_decoder after_end(std::nullopt, true);
  EXPECT_FALSE(decode(after_end, "0\r\n\r\nextra", 100));
}

TEST(AwsChunked, UnsignedWithTrailer) {
  aws_chunked_decoder d(std::nullopt, true);
  auto out = decode(d, "5\r\nhello\r\n0\r\nx-amz-checksum-crc32:NhCmhg==\r\n\r\n", 3);
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_TRUE(d.done());
  EXPECT_EQ(*out, "hello");
  ASSERT_EQ(d.trailers().size(), 1u);
  EXPECT_EQ(d.trailers()[0].first, "x-amz-checksum-crc32");
  EXPECT_EQ(d.trailers()[0].second, "NhCmhg==");
}

TEST(AwsChunked, SignedChunksMustCarrySignatures) {
  doc_example ex;
  aws_chunked_decoder d(ex.signing, false);
  EXPECT_FALSE(decode(d, "5\r\nhello\r\n0\r\n\r\n", 100));
}

}  // namespace
}  // namespace airfleet::s3
