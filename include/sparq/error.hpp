// Errors raised by sparq. Every failure carries a code and a message that names
// what is wrong (the field, the file, the flag), so users never see a bare crash.
#pragma once

#include <stdexcept>
#include <string>

namespace sparq {

enum class ErrorCode {
  kInvalidArgument,  // a caller passed something malformed (shape, flag, option)
  kInvalidModel,     // a model file or graph violates the schema or its semantics
  kUnsupported,      // valid, but no backend / ISA can run it
  kIo,               // a file could not be read or written
  kInternal,         // a broken invariant inside sparq (a bug)
};

const char* to_string(ErrorCode code);

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message);
  ErrorCode code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

}  // namespace sparq
