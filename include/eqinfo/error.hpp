// SPDX-License-Identifier: MIT
#pragma once
/// \file
/// The one exception type eqinfo throws, with stable codes.

#include <eqinfo/version.hpp>

#include <stdexcept>
#include <string>
#include <string_view>

namespace eqinfo {
inline namespace v1 {

/// Stable error codes. The numeric values and the names returned by
/// errc_name() never change meaning; new codes are only appended.
enum class errc : int {
  invalid_settings = 1,       ///< settings out of range or inconsistent (b, N, P, method)
  truncated_tokens = 2,       ///< fewer tokens than a whole window / stream needs
  token_out_of_range = 3,     ///< a token value >= 2^N
  trailing_bits = 4,          ///< padding bits or extra tokens after the end of a stream
  corrupt_stream = 5,         ///< the tokens are not something this encoder writes
  bad_magic = 6,              ///< a file does not start with the expected magic bytes
  unsupported_version = 7,    ///< a file or stream format version this build cannot read
  checksum_mismatch = 8,      ///< stored checksum differs from the data
  settings_mismatch = 9,      ///< tokens/model were made with other settings than supplied
  invalid_model_output = 10,  ///< a model produced an invalid CDF or probability vector
  bad_model_file = 11,        ///< a model file is truncated or structurally invalid
  io_error = 12,              ///< reading or writing a file failed
  self_test_failed = 13,      ///< a model file's self-test did not reproduce its tokens
  invalid_argument = 14,      ///< an argument to an API call is out of its documented range
};

/// "area.name" for an error code, e.g. "stream.corrupt_stream".
constexpr std::string_view errc_name(errc code) noexcept {
  switch (code) {
    case errc::invalid_settings: return "settings.invalid_settings";
    case errc::truncated_tokens: return "stream.truncated_tokens";
    case errc::token_out_of_range: return "stream.token_out_of_range";
    case errc::trailing_bits: return "stream.trailing_bits";
    case errc::corrupt_stream: return "stream.corrupt_stream";
    case errc::bad_magic: return "file.bad_magic";
    case errc::unsupported_version: return "file.unsupported_version";
    case errc::checksum_mismatch: return "file.checksum_mismatch";
    case errc::settings_mismatch: return "settings.settings_mismatch";
    case errc::invalid_model_output: return "model.invalid_model_output";
    case errc::bad_model_file: return "file.bad_model_file";
    case errc::io_error: return "file.io_error";
    case errc::self_test_failed: return "model.self_test_failed";
    case errc::invalid_argument: return "api.invalid_argument";
  }
  return "unknown";
}

/// Every failure eqinfo reports. what() reads
/// "[eqinfo.stream.corrupt_stream] window 3 (tokens 6..7): ...".
class error : public std::runtime_error {
 public:
  error(errc code, const std::string& message)
      : std::runtime_error("[eqinfo." + std::string(errc_name(code)) + "] " + message), code_(code) {}
  errc code() const noexcept { return code_; }

 private:
  errc code_;
};

}  // namespace v1
}  // namespace eqinfo
