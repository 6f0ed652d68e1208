#include "registry/detail/www_authenticate.hpp"

namespace gantry::registry::detail {

namespace {

// tchar of RFC 9110 §5.6.2.
bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

// token68 characters (RFC 9110 §11.2), before the trailing '='s.
bool is_token68_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~' || c == '+' || c == '/';
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

class Parser {
 public:
  explicit Parser(std::string_view text) : s_(text) {}

  std::vector<Challenge> run() {
    std::vector<Challenge> out;
    skip_list_separators();
    while (!at_end()) {
      std::string_view scheme = token();
      if (scheme.empty()) break;
      Challenge challenge{.scheme = lower(scheme), .params = {}, .token68 = {}};
      bool ok = parse_params(challenge);
      out.push_back(std::move(challenge));
      if (!ok) break;
      skip_list_separators();
    }
    return out;
  }

 private:
  // After the scheme: nothing, a token68, or a list of name=value pairs. A
  // comma ends the challenge when what follows is not `name =`, i.e. it is
  // the next challenge's scheme.
  bool parse_params(Challenge& challenge) {
    std::size_t before = pos_;
    skip_spaces();
    if (at_end() || peek() == ',') return true;
    if (pos_ == before) return false;  // the scheme must be followed by a space
    if (!looks_like_param()) return parse_token68(challenge);
    while (true) {
      std::string name = lower(token());
      skip_spaces();
      ++pos_;  // '=' (looks_like_param checked it)
      skip_spaces();
      std::string value;
      if (!at_end() && peek() == '"') {
        if (!quoted_string(value)) return false;
      } else {
        value = std::string(token());
      }
      challenge.params.emplace(std::move(name), std::move(value));
      // Continue with this challenge only while the next list item is a param.
      std::size_t mark = pos_;
      skip_spaces();
      if (at_end()) return true;
      if (peek() != ',') return false;
      skip_list_separators();
      if (at_end()) return true;
      if (!looks_like_param()) {
        pos_ = mark;
        skip_spaces();
        return true;
      }
    }
  }

  bool parse_token68(Challenge& challenge) {
    std::size_t start = pos_;
    while (!at_end() && is_token68_char(peek())) ++pos_;
    if (pos_ == start) return false;
    while (!at_end() && peek() == '=') ++pos_;
    challenge.token68 = std::string(s_.substr(start, pos_ - start));
    skip_spaces();
    return at_end() || peek() == ',';
  }

  // `token BWS "="` not followed by another '=' (that would be a token68's padding).
  bool looks_like_param() {
    std::size_t mark = pos_;
    bool yes = !token().empty();
    skip_spaces();
    yes = yes && !at_end() && peek() == '=';
    if (yes) {
      ++pos_;
      yes = at_end() || peek() != '=';
    }
    pos_ = mark;
    return yes;
  }

  bool quoted_string(std::string& out) {
    ++pos_;  // opening quote
    while (!at_end()) {
      char c = s_[pos_++];
      if (c == '"') return true;
      if (c == '\\') {
        if (at_end()) return false;
        c = s_[pos_++];
      }
      out.push_back(c);
    }
    return false;  // unterminated
  }

  std::string_view token() {
    std::size_t start = pos_;
    while (!at_end() && is_tchar(peek())) ++pos_;
    return s_.substr(start, pos_ - start);
  }

  void skip_spaces() {
    while (!at_end() && (peek() == ' ' || peek() == '\t')) ++pos_;
  }
  void skip_list_separators() {
    while (!at_end() && (peek() == ' ' || peek() == '\t' || peek() == ',')) ++pos_;
  }
  [[nodiscard]] bool at_end() const { return pos_ >= s_.size(); }
  [[nodiscard]] char peek() const { return s_[pos_]; }

  std::string_view s_;
  std::size_t pos_ = 0;
};

}  // namespace

std::vector<Challenge> parse_www_authenticate(std::string_view header) { return Parser(header).run(); }

std::optional<Challenge> pick_challenge(const std::vector<Challenge>& challenges) {
  for (std::string_view scheme : {"bearer", "basic"}) {
    for (const Challenge& c : challenges) {
      if (c.scheme == scheme) return c;
    }
  }
  return std::nullopt;
}

}  // namespace gantry::registry::detail
