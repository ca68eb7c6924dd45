// The kernel audit record text format: "audit(SEC.MSEC:SERIAL): key=value ...", where a
// string value is "quoted" when it is plain printable ASCII without '"', hex-encoded when it
// is not, and (null) when absent. Parsing works on views of the received buffer: no copies.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace nw {

struct AuditHeader {
  uint64_t time_ns = 0;
  uint64_t serial = 0;
  std::string_view body;  // the fields after "): "
};

bool ParseAuditHeader(std::string_view text, AuditHeader* out);

// Walks the key=value fields of a record body. Values keep their quotes; see DecodeValue.
class FieldIter {
 public:
  explicit FieldIter(std::string_view body) : s_(body) {}
  bool Next(std::string_view* key, std::string_view* value);

 private:
  std::string_view s_;
  size_t i_ = 0;
};

enum class ValueKind { Quoted, Hex, Null, Raw };

// Classifies a value as audit prints it and strips the quotes of a quoted one.
ValueKind ClassifyValue(std::string_view v, std::string_view* inner);

// Decodes a value into bytes, handing them to sink(const char*, size_t) in chunks.
template <typename Sink>
void DecodeValue(std::string_view v, Sink&& sink) {
  std::string_view inner;
  switch (ClassifyValue(v, &inner)) {
    case ValueKind::Null:
      return;
    case ValueKind::Quoted:
    case ValueKind::Raw:
      sink(inner.data(), inner.size());
      return;
    case ValueKind::Hex: {
      char buf[512];
      size_t n = 0;
      for (size_t i = 0; i + 1 < inner.size(); i += 2) {
        auto nib = [](char c) -> int {
          if (c >= '0' && c <= '9') return c - '0';
          if (c >= 'A' && c <= 'F') return c - 'A' + 10;
          return c - 'a' + 10;
        };
        buf[n++] = static_cast<char>((nib(inner[i]) << 4) | nib(inner[i + 1]));
        if (n == sizeof(buf)) {
          sink(buf, n);
          n = 0;
        }
      }
      if (n) sink(buf, n);
      return;
    }
  }
}

// Unsigned decimal (or hex with base 16); returns fallback when the value is not a number.
uint64_t ParseUnsigned(std::string_view v, int base, uint64_t fallback);
// Signed decimal, for ids printed as -1 and pids.
int64_t ParseSigned(std::string_view v, int64_t fallback);

}  // namespace nw
