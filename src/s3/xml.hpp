// The little XML S3 needs: escaping for responses, and a parser for the
// request documents clients send (CreateBucketConfiguration,
// VersioningConfiguration, ServerSideEncryptionConfiguration,
// CompleteMultipartUpload, Delete). Elements, text and the five predefined
// entities plus character references; attributes, comments, processing
// instructions and namespaces are read and ignored. No DTDs (no entity
// expansion of any kind), and a depth limit.
#pragma once

#include "core/error.hpp"

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace airfleet::s3 {

std::string xml_escape(std::string_view text);

struct xml_element {
  std::string name;  // local name (any "prefix:" removed)
  std::string text;  // the text directly inside, entities decoded
  std::vector<xml_element> children;

  const xml_element* child(std::string_view local_name) const;
  std::vector<const xml_element*> all(std::string_view local_name) const;
};

// Parses a document; nullopt when it is not well-formed (MalformedXML).
std::optional<xml_element> parse_xml(std::string_view document);

}  // namespace airfleet::s3
