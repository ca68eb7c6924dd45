// Tokenising and value decoding for audit record text (see audit-text.h).
#include "audit-text.h"

namespace nw {

namespace {
bool IsHexDigit(char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f');
}
}  // namespace

bool ParseAuditHeader(std::string_view t, AuditHeader* out) {
  // "audit(1712345678.123:456): "
  if (t.size() < 10 || t.substr(0, 6) != "audit(") return false;
  size_t i = 6;
  uint64_t sec = 0, msec = 0, serial = 0;
  int msec_digits = 0;
  while (i < t.size() && t[i] >= '0' && t[i] <= '9') sec = sec * 10 + (t[i++] - '0');
  if (i >= t.size() || t[i] != '.') return false;
  i++;
  while (i < t.size() && t[i] >= '0' && t[i] <= '9') {
    msec = msec * 10 + (t[i++] - '0');
    msec_digits++;
  }
  while (msec_digits < 3) {
    msec *= 10;
    msec_digits++;
  }
  while (msec_digits > 3) {
    msec /= 10;
    msec_digits--;
  }
  if (i >= t.size() || t[i] != ':') return false;
  i++;
  while (i < t.size() && t[i] >= '0' && t[i] <= '9') serial = serial * 10 + (t[i++] - '0');
  if (i >= t.size() || t[i] != ')') return false;
  i++;
  if (i < t.size() && t[i] == ':') i++;
  while (i < t.size() && t[i] == ' ') i++;
  size_t end = t.size();
  // Some kernels count a trailing NUL or newline in the message length.
  while (end > i && (t[end - 1] == '\0' || t[end - 1] == '\n')) end--;
  out->time_ns = sec * 1000000000ull + msec * 1000000ull;
  out->serial = serial;
  out->body = t.substr(i, end - i);
  return true;
}

bool FieldIter::Next(std::string_view* key, std::string_view* value) {
  const std::string_view& s = s_;
  while (i_ < s.size()) {
    while (i_ < s.size() && s[i_] == ' ') i_++;
    size_t ks = i_;
    while (i_ < s.size() && s[i_] != '=' && s[i_] != ' ') i_++;
    if (i_ >= s.size()) return false;
    if (s[i_] == ' ') continue;  // a bare word (e.g. "msg=audit(...)" pieces): skip it
    *key = s.substr(ks, i_ - ks);
    i_++;  // '='
    size_t vs = i_;
    if (i_ < s.size() && (s[i_] == '"' || s[i_] == '\'')) {
      char q = s[i_++];
      while (i_ < s.size() && s[i_] != q) i_++;
      if (i_ < s.size()) i_++;  // closing quote
    } else {
      while (i_ < s.size() && s[i_] != ' ') i_++;
    }
    *value = s.substr(vs, i_ - vs);
    return true;
  }
  return false;
}

ValueKind ClassifyValue(std::string_view v, std::string_view* inner) {
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') {
    *inner = v.substr(1, v.size() - 2);
    return ValueKind::Quoted;
  }
  if (v.size() >= 1 && v.front() == '"') {  // cut short by the record end
    *inner = v.substr(1);
    return ValueKind::Quoted;
  }
  if (v == "(null)" || v == "(none)") {
    *inner = std::string_view();
    return ValueKind::Null;
  }
  bool hex = !v.empty() && v.size() % 2 == 0;
  for (size_t i = 0; hex && i < v.size(); i++) hex = IsHexDigit(v[i]);
  *inner = v;
  return hex ? ValueKind::Hex : ValueKind::Raw;
}

uint64_t ParseUnsigned(std::string_view v, int base, uint64_t fallback) {
  if (v.empty()) return fallback;
  uint64_t r = 0;
  for (char c : v) {
    int d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (base == 16 && c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else if (base == 16 && c >= 'A' && c <= 'F') d = c - 'A' + 10;
    else return fallback;
    r = r * base + d;
  }
  return r;
}

int64_t ParseSigned(std::string_view v, int64_t fallback) {
  if (v.empty()) return fallback;
  bool neg = v.front() == '-';
  if (neg) v.remove_prefix(1);
  uint64_t u = ParseUnsigned(v, 10, UINT64_MAX);
  if (u == UINT64_MAX) return fallback;
  return neg ? -static_cast<int64_t>(u) : static_cast<int64_t>(u);
}

}  // namespace nw
