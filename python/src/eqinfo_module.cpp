// SPDX-License-Identifier: MIT
// eqinfo._eqinfo: the pybind11 extension behind `import eqinfo`.
//
// The pure-Python package (python/eqinfo/__init__.py) wraps these classes;
// use that, not this module. Every eqinfo::error becomes an eqinfo.Error
// (python/eqinfo/_errors.py) carrying the message and the stable code.
//
// Threads: every call that codes bytes releases the GIL. A Tokenizer holds
// one eqinfo::tokenizer, which mutates its model while coding, behind a
// mutex: concurrent calls on ONE Tokenizer from several Python threads run
// one at a time (batch calls copy the tokenizer under the mutex and then run
// without it); use one Tokenizer per thread for parallel single calls, or the
// *_batch methods (oneTBB, eqinfo/parallel.hpp).

// clang-format off
// Python's headers first (they may set feature macros the standard headers read).
#include <pybind11/pybind11.h>
#include <pybind11/numpy.h>
#include <pybind11/stl.h>
// clang-format on

#include <eqinfo/any_tokenizer.hpp>
#include <eqinfo/parallel.hpp>
#include <eqinfo/stream_decoder.hpp>
#include <eqinfo/tokenizer.hpp>
#include <eqinfo/transformer.hpp>

#include <array>
#include <cstdint>
#include <cstring>
#include <exception>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace py = pybind11;

namespace {

using bytes_t = std::vector<std::uint8_t>;

// ---------------------------------------------------------------------------
// Input bytes: any object with a contiguous buffer (bytes, bytearray,
// memoryview, numpy arrays: their raw memory), or str (UTF-8).

/// A read-only view of an object's bytes that stays valid while it lives,
/// also with the GIL released: the buffer export keeps a bytearray from
/// being resized, and str is copied to UTF-8 bytes first.
class byte_view {
 public:
  explicit byte_view(const py::handle& obj) {
    if (PyUnicode_Check(obj.ptr())) {
      Py_ssize_t size = 0;
      const char* utf8 = PyUnicode_AsUTF8AndSize(obj.ptr(), &size);
      if (utf8 == nullptr) throw py::error_already_set();
      owned_.assign(utf8, utf8 + size);
      return;
    }
    if (PyObject_GetBuffer(obj.ptr(), &view_, PyBUF_SIMPLE) != 0) {
      PyErr_Clear();
      throw py::type_error(std::string("expected bytes, bytearray, memoryview, a contiguous buffer or str; got ") +
                           Py_TYPE(obj.ptr())->tp_name);
    }
    has_view_ = true;
  }
  byte_view(const byte_view&) = delete;
  byte_view& operator=(const byte_view&) = delete;
  byte_view(byte_view&& other) noexcept
      : view_(other.view_), has_view_(std::exchange(other.has_view_, false)), owned_(std::move(other.owned_)) {}
  byte_view& operator=(byte_view&&) = delete;
  /// Needs the GIL (PyBuffer_Release): destroy these before releasing it, or after reacquiring it.
  ~byte_view() {
    if (has_view_) PyBuffer_Release(&view_);
  }

  std::span<const std::uint8_t> bytes() const noexcept {
    if (!has_view_) return owned_;
    return {static_cast<const std::uint8_t*>(view_.buf), static_cast<std::size_t>(view_.len)};
  }

 private:
  Py_buffer view_{};
  bool has_view_ = false;
  bytes_t owned_;
};

/// Tokens as they arrive from Python: int64, C order (numpy converts other integer dtypes).
using token_array = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>;

/// Tokens from Python: a 1-D int64 array (python/eqinfo checks the dtype and
/// converts) -> token_t, refusing what does not fit instead of wrapping.
std::vector<eqinfo::token_t> tokens_from(const token_array& a) {
  if (a.ndim() != 1)
    throw py::value_error("tokens must be a 1-D array, got " + std::to_string(a.ndim()) + " dimensions");
  const std::int64_t* data = a.data();
  const auto n = static_cast<std::size_t>(a.size());
  std::vector<eqinfo::token_t> out(n);
  for (std::size_t i = 0; i < n; ++i) {
    const std::int64_t v = data[i];
    if (v < 0 || v > std::int64_t{std::numeric_limits<eqinfo::token_t>::max()})
      throw eqinfo::error(eqinfo::errc::token_out_of_range,
                          "token " + std::to_string(i) + " is " + std::to_string(v) + ", not a token value");
    out[i] = static_cast<eqinfo::token_t>(v);
  }
  return out;
}

token_array as_token_array(const py::handle& item) {
  auto a = token_array::ensure(item);
  if (!a) throw py::type_error("tokens must be integer arrays");
  return a;
}

/// Tokens to numpy, in the storage type of the CLI's raw/.npy output
/// (eqinfo::token_storage_bytes: uint8 for N <= 8, uint16 for N <= 16, else uint32).
template <class T>
py::array tokens_as(std::span<const eqinfo::token_t> tokens) {
  py::array_t<T> out(static_cast<py::ssize_t>(tokens.size()));
  T* dst = out.mutable_data();
  for (std::size_t i = 0; i < tokens.size(); ++i) dst[i] = static_cast<T>(tokens[i]);
  return out;
}

py::array to_numpy(std::span<const eqinfo::token_t> tokens, unsigned token_bits) {
  switch (eqinfo::token_storage_bytes(token_bits)) {
    case 1: return tokens_as<std::uint8_t>(tokens);
    case 2: return tokens_as<std::uint16_t>(tokens);
    default: return tokens_as<std::uint32_t>(tokens);
  }
}

py::bytes to_py_bytes(std::span<const std::uint8_t> data) {
  return py::bytes(reinterpret_cast<const char*>(data.data()), data.size());
}

/// Token offsets as an (n, 2) int64 array of [begin, end) rows.
py::array offsets_to_numpy(std::span<const eqinfo::byte_span> offsets) {
  py::array_t<std::int64_t> out({static_cast<py::ssize_t>(offsets.size()), py::ssize_t{2}});
  std::int64_t* dst = out.mutable_data();
  for (std::size_t i = 0; i < offsets.size(); ++i) {
    dst[2 * i] = static_cast<std::int64_t>(offsets[i].begin);
    dst[2 * i + 1] = static_cast<std::int64_t>(offsets[i].end);
  }
  return out;
}

// ---------------------------------------------------------------------------
// Settings and models, with the CLI's names and defaults (tools/eqinfo.cpp).

using eqinfo::any_tokenizer;

/// Settings as Python sees them: the names users give (user_name), P as
/// "precision".
py::dict settings_dict(const eqinfo::settings& s, bool static_ac) {
  py::dict out;
  out["method"] = std::string(eqinfo::user_name(s.kind, static_ac));
  out["window_bits"] = s.window_bits;
  out["token_bits"] = s.token_bits;
  out["precision"] = s.precision_bits;
  out["rule"] = std::string(eqinfo::user_name(s.rule));
  out["segment_bytes"] = s.segment_bytes;
  return out;
}

class tokenizer_core {
 public:
  /// model: None (the uniform model) or the bytes of a model file (unigram
  /// or M1, told apart by content like the CLI); source names it in errors.
  /// token_bits / precision: None for the CLI's defaults (N = 16, 8 for
  /// bytes; P = the unigram file's precision, else 16). segment_bytes: None
  /// for eqinfo::settings' default (0, one segment); it changes the tokens.
  /// lanes: None for eqinfo::default_lanes; it never changes the tokens.
  tokenizer_core(const std::optional<py::bytes>& model, const std::string& source, const std::string& method,
                 unsigned window_bits, std::optional<unsigned> token_bits, std::optional<unsigned> precision,
                 const std::string& rule, bool run_self_test, std::optional<std::uint64_t> segment_bytes,
                 std::optional<std::size_t> lanes)
      : tok_(make(model, source, method, window_bits, token_bits, precision, rule, run_self_test, segment_bytes)) {
    if (lanes) std::visit([&](auto& t) { t.set_lanes(*lanes); }, tok_);
  }

  // --- properties
  const eqinfo::settings& config() const {
    return std::visit([](const auto& t) -> const eqinfo::settings& { return t.config(); }, tok_);
  }
  /// What the Tokenizer's properties report, fixed at construction.
  py::dict info() const {
    py::dict out = settings_dict(config(), static_ac_);
    out["lanes"] = std::visit([](const auto& t) { return t.lanes(); }, tok_);
    out["vocab_size"] = std::uint64_t{1} << config().token_bits;
    out["tokens_per_window"] = config().kind == eqinfo::method::equal_info_ac ? config().tokens_per_window() : 0u;
    out["model_fingerprint"] = std::visit([](const auto& t) { return eqinfo::model_fingerprint(t.model()); }, tok_);
    out["model_kind"] = model_kind_;
    out["storage_bytes"] = eqinfo::token_storage_bytes(config().token_bits);
    out["m1_config"] = m1_config_;  // JSON, or "" for a model that is not M1
    return out;
  }

  // --- single examples
  /// Encodes on one thread (threads == 1), or an equal-info input's segments
  /// (settings::segment_bytes) on `threads` threads (0: all cores); the
  /// tokens are the same.
  /// With offsets: (tokens, offsets) (eqinfo::tokenizer::encode_with_offsets).
  py::object encode(const py::handle& data, unsigned threads, bool offsets) {
    const byte_view input(data);
    const auto want = offsets ? eqinfo::want_offsets::yes : eqinfo::want_offsets::no;
    eqinfo::encoded e;
    {
      py::gil_scoped_release nogil;
      if (threads != 1 && config().kind == eqinfo::method::equal_info_ac && config().segment_bytes != 0) {
        const any_tokenizer prototype = snapshot();
        e = std::visit([&](const auto& t) { return eqinfo::encode_parallel(t, input.bytes(), threads, want); },
                       prototype);
      } else {
        std::lock_guard lock(mutex_);
        e = std::visit([&](auto& t) { return t.encode(input.bytes(), want); }, tok_);
      }
    }
    return encoded_to_python(e, offsets);
  }

  py::object encoded_to_python(const eqinfo::encoded& e, bool offsets) const {
    py::array tokens = to_numpy(e.tokens, config().token_bits);
    if (!offsets) return tokens;
    return py::make_tuple(tokens, offsets_to_numpy(e.offsets));
  }

  /// Exact decoding (byte_count) or bare decoding (none); equal-info windows
  /// on `threads` threads unless threads == 1 (same bytes and errors).
  py::bytes decode(const token_array& tokens, std::optional<std::uint64_t> byte_count, unsigned threads) {
    const std::vector<eqinfo::token_t> t = tokens_from(tokens);
    bytes_t out;
    {
      py::gil_scoped_release nogil;
      std::lock_guard lock(mutex_);
      out = std::visit(
          [&](auto& tok) {
            if (threads != 1 && tok.config().kind == eqinfo::method::equal_info_ac)
              return eqinfo::decode_windows_parallel(tok, t, byte_count, threads);
            return byte_count ? tok.decode(t, *byte_count) : tok.decode_bare(t);
          },
          tok_);
    }
    return to_py_bytes(out);
  }

  // --- many examples (oneTBB; results independent of `threads`)
  py::list encode_batch(const py::sequence& items, unsigned threads, bool offsets) {
    std::vector<byte_view> inputs;
    inputs.reserve(py::len(items));
    for (const py::handle item : items) inputs.emplace_back(item);
    std::vector<std::span<const std::uint8_t>> spans;
    spans.reserve(inputs.size());
    for (const auto& v : inputs) spans.push_back(v.bytes());
    std::vector<eqinfo::encoded> out;
    {
      py::gil_scoped_release nogil;
      const any_tokenizer prototype = snapshot();
      const auto want = offsets ? eqinfo::want_offsets::yes : eqinfo::want_offsets::no;
      out = std::visit([&](const auto& t) { return eqinfo::encode_many(t, spans, threads, want); }, prototype);
    }
    py::list result;
    for (const auto& e : out) result.append(encoded_to_python(e, offsets));
    return result;
  }

  py::list decode_batch(const py::sequence& token_lists, const std::vector<std::uint64_t>& byte_counts,
                        unsigned threads) {
    if (py::len(token_lists) != byte_counts.size())
      throw py::value_error("decode_batch: " + std::to_string(py::len(token_lists)) + " token arrays but " +
                            std::to_string(byte_counts.size()) + " byte counts");
    std::vector<eqinfo::encoded> examples(byte_counts.size());
    std::size_t i = 0;
    for (const py::handle item : token_lists) {
      examples[i].tokens = tokens_from(as_token_array(item));
      examples[i].byte_count = byte_counts[i];
      ++i;
    }
    std::vector<bytes_t> out;
    {
      py::gil_scoped_release nogil;
      const any_tokenizer prototype = snapshot();
      out = std::visit([&](const auto& t) { return eqinfo::decode_many(t, examples, threads); }, prototype);
    }
    py::list result;
    for (const auto& b : out) result.append(to_py_bytes(b));
    return result;
  }

  py::list decode_bare_batch(const py::sequence& token_lists, unsigned threads) {
    std::vector<std::vector<eqinfo::token_t>> examples;
    examples.reserve(py::len(token_lists));
    for (const py::handle item : token_lists) examples.push_back(tokens_from(as_token_array(item)));
    std::vector<bytes_t> out;
    {
      py::gil_scoped_release nogil;
      const any_tokenizer prototype = snapshot();
      out = std::visit(
          [&](const auto& proto) {
            using tok_t = std::decay_t<decltype(proto)>;
            tbb::enumerable_thread_specific<tok_t> local([&] { return eqinfo::detail::parallel::worker_copy(proto); });
            return eqinfo::detail::parallel::for_each_item<bytes_t>(
                examples.size(), threads, local,
                [&](tok_t& tok, std::size_t k) { return tok.decode_bare(examples[k]); });
          },
          prototype);
    }
    py::list result;
    for (const auto& b : out) result.append(to_py_bytes(b));
    return result;
  }

  // --- .eqt token files (the CLI's default format)
  py::bytes encode_eqt(const py::handle& data) {
    const byte_view input(data);
    std::vector<unsigned char> file;
    {
      py::gil_scoped_release nogil;
      std::lock_guard lock(mutex_);
      file = std::visit(
          [&](auto& t) { return eqinfo::serialize_token_file(eqinfo::make_token_file(t, t.encode(input.bytes()))); },
          tok_);
    }
    return to_py_bytes(file);
  }

  /// Decodes an .eqt file's bytes made with this tokenizer's settings and
  /// model (else settings_mismatch), exactly or (bare) without its byte count.
  py::bytes decode_eqt(const py::handle& data, const std::string& source, bool bare, unsigned threads) {
    const byte_view input(data);
    bytes_t out;
    {
      py::gil_scoped_release nogil;
      const eqinfo::token_file file = eqinfo::parse_token_file(input.bytes(), source);
      std::lock_guard lock(mutex_);
      out = std::visit(
          [&](auto& tok) {
            eqinfo::check_token_file(tok, file);
            const std::optional<std::uint64_t> count = bare ? std::nullopt : std::optional(file.byte_count);
            if (threads != 1 && tok.config().kind == eqinfo::method::equal_info_ac)
              return eqinfo::decode_windows_parallel(tok, file.tokens, count, threads);
            return count ? tok.decode(file.tokens, *count) : tok.decode_bare(file.tokens);
          },
          tok_);
    }
    return to_py_bytes(out);
  }

  /// A copy of the tokenizer, taken under the mutex (batch calls then run without it).
  any_tokenizer snapshot() {
    std::lock_guard lock(mutex_);
    return tok_;
  }

 private:
  any_tokenizer make(const std::optional<py::bytes>& model, const std::string& source, const std::string& m,
                     unsigned window_bits, std::optional<unsigned> token_bits, std::optional<unsigned> precision,
                     const std::string& rule, bool run_self_test, std::optional<std::uint64_t> segment_bytes) {
    // The model first (a bad file is an error whatever the method).
    std::optional<eqinfo::unigram_model> unigram;
    std::optional<eqinfo::m1_file> m1;
    if (model) {
      const std::string_view view = *model;
      const std::span<const std::uint8_t> data(reinterpret_cast<const std::uint8_t*>(view.data()), view.size());
      py::gil_scoped_release nogil;  // M1 self-tests take a while
      auto file = eqinfo::parse_model_file(data, source, run_self_test);
      if (auto* f = std::get_if<eqinfo::m1_file>(&file))
        m1 = std::move(*f);
      else
        unigram = std::move(std::get<eqinfo::unigram_model>(file));
    }

    const eqinfo::settings_request r{.method = m,
                                     .window_bits = window_bits,
                                     .token_bits = token_bits,
                                     .precision_bits = precision,
                                     .rule = rule,
                                     .segment_bytes = segment_bytes};
    const eqinfo::resolved_settings resolved =
        eqinfo::resolve_settings(r, m1 ? &*m1 : nullptr, unigram ? &*unigram : nullptr);
    static_ac_ = resolved.static_ac;
    if (m1) m1_config_ = m1->weights->config.to_json();
    eqinfo::chosen_tokenizer chosen =
        eqinfo::make_tokenizer(resolved.config, m1 ? &*m1 : nullptr, unigram ? &*unigram : nullptr);
    model_kind_ = chosen.model_kind;
    return std::move(chosen.tok);
  }

  bool static_ac_ = false;
  std::string model_kind_;
  std::string m1_config_;
  any_tokenizer tok_;
  std::mutex mutex_;
};

// ---------------------------------------------------------------------------
// Streaming decoding (eqinfo/stream_decoder.hpp)

template <class T>
struct stream_of;
template <class M>
struct stream_of<eqinfo::tokenizer<M>> {
  using single = eqinfo::stream_decoder<M>;
  using batch = eqinfo::batch_stream_decoder<M>;
};
template <class... T>
using single_streams = std::variant<typename stream_of<T>::single...>;
template <class... T>
using batch_streams = std::variant<typename stream_of<T>::batch...>;
template <class V>
struct streams_for;
template <class... T>
struct streams_for<std::variant<T...>> {
  using single = single_streams<T...>;
  using batch = batch_streams<T...>;
};

py::tuple stream_end_to_python(const eqinfo::stream_end& end) {
  return py::make_tuple(to_py_bytes(end.bytes), end.leftover_tokens);
}

/// A variant of decoders behind a mutex: calls on one object run one at a time.
template <class Variant>
class locked_variant {
 public:
  explicit locked_variant(Variant v) : v_(std::move(v)) {}
  template <class F>
  decltype(auto) operator()(F&& f) {
    std::lock_guard lock(mutex_);
    return std::visit(std::forward<F>(f), v_);
  }

 private:
  Variant v_;
  std::mutex mutex_;
};

/// One stream decoded as its tokens arrive.
class stream_core {
 public:
  stream_core(tokenizer_core& tok, std::optional<std::uint64_t> byte_count)
      : dec_(std::visit([&](const auto& t)
                            -> decoder { return typename stream_of<std::decay_t<decltype(t)>>::single(t, byte_count); },
                        tok.snapshot())) {}

  py::bytes push(const token_array& tokens) {
    const std::vector<eqinfo::token_t> t = tokens_from(tokens);
    bytes_t out;
    {
      py::gil_scoped_release nogil;
      out = dec_([&](auto& d) { return d.push(t); });
    }
    return to_py_bytes(out);
  }
  py::tuple finish() {
    eqinfo::stream_end end;
    {
      py::gil_scoped_release nogil;
      end = dec_([](auto& d) { return d.finish(); });
    }
    return stream_end_to_python(end);
  }
  void reset(std::optional<std::uint64_t> byte_count) {
    dec_([&](auto& d) { d.reset(byte_count); });
  }
  std::uint64_t tokens_seen() {
    return dec_([](auto& d) { return d.tokens_seen(); });
  }
  std::uint64_t bytes_out() {
    return dec_([](auto& d) { return d.bytes_out(); });
  }

 private:
  using decoder = streams_for<any_tokenizer>::single;
  locked_variant<decoder> dec_;
};

/// Many streams decoded in lockstep as their tokens arrive.
class batch_stream_core {
 public:
  batch_stream_core(tokenizer_core& tok, std::size_t sequences)
      : dec_(std::visit([&](const auto& t)
                            -> decoder { return typename stream_of<std::decay_t<decltype(t)>>::batch(t, sequences); },
                        tok.snapshot())) {}

  py::list push(const py::sequence& chunks) {
    std::vector<std::vector<eqinfo::token_t>> tokens;
    tokens.reserve(py::len(chunks));
    for (const py::handle item : chunks) tokens.push_back(tokens_from(as_token_array(item)));
    const std::vector<std::span<const eqinfo::token_t>> spans(tokens.begin(), tokens.end());
    std::vector<bytes_t> out;
    {
      py::gil_scoped_release nogil;
      out = dec_([&](auto& d) { return d.push(spans); });
    }
    py::list result;
    for (const auto& b : out) result.append(to_py_bytes(b));
    return result;
  }
  py::tuple finish(std::size_t i) {
    return stream_end_to_python(dec_([&](auto& d) { return d.finish(i); }));
  }
  void reset(std::size_t i) {
    dec_([&](auto& d) { d.reset(i); });
  }
  std::size_t size() {
    return dec_([](auto& d) { return d.size(); });
  }

 private:
  using decoder = streams_for<any_tokenizer>::batch;
  locked_variant<decoder> dec_;
};

py::bytes utf8_complete(const py::bytes& data) {
  const std::string_view view = data;
  const std::size_t keep =
      eqinfo::incomplete_utf8_suffix(std::span(reinterpret_cast<const std::uint8_t*>(view.data()), view.size()));
  return py::bytes(view.data(), view.size() - keep);
}

// ---------------------------------------------------------------------------
// Model files

/// Counts every byte of every item into a unigram model file's bytes.
py::bytes train_unigram(const py::sequence& items, unsigned precision) {
  std::vector<byte_view> inputs;
  for (const py::handle item : items) inputs.emplace_back(item);
  std::vector<unsigned char> file;
  {
    py::gil_scoped_release nogil;
    std::array<std::uint64_t, 256> counts{};
    for (const auto& v : inputs)
      for (std::uint8_t b : v.bytes()) ++counts[b];
    file = eqinfo::unigram_model(counts, precision).serialize();
  }
  return to_py_bytes(file);
}

/// An M1 model file's bytes with fixed pseudo-random weights ('eqinfo m1-random').
py::bytes m1_random(unsigned layers, unsigned d_model, unsigned heads, unsigned head_dim, unsigned d_ff,
                    unsigned context, std::uint64_t seed) {
  const eqinfo::transformer_config c{
      .layers = layers, .d_model = d_model, .heads = heads, .head_dim = head_dim, .d_ff = d_ff, .context = context};
  std::vector<unsigned char> file;
  {
    py::gil_scoped_release nogil;
    c.validate();
    file = eqinfo::serialize_m1(eqinfo::transformer_weights::random(c, seed));
  }
  return to_py_bytes(file);
}

/// An .eqt file's header and tokens, without decoding.
py::dict read_eqt(const py::handle& data, const std::string& source) {
  const byte_view input(data);
  eqinfo::token_file f;
  {
    py::gil_scoped_release nogil;
    f = eqinfo::parse_token_file(input.bytes(), source);
  }
  py::dict out = settings_dict(f.config, false);
  out["model_fingerprint"] = f.model_fingerprint;
  out["n_bytes"] = f.byte_count;
  out["tokens"] = to_numpy(f.tokens, f.config.token_bits);
  return out;
}

// ---------------------------------------------------------------------------
// eqinfo::error -> eqinfo.Error (or its subclass for the code), built by
// eqinfo._errors.from_code so the class hierarchy lives in Python.

void translate(std::exception_ptr p) {
  try {
    if (p) std::rethrow_exception(p);
  } catch (const eqinfo::error& e) {
    try {
      const py::object make = py::module_::import("eqinfo._errors").attr("from_code");
      const py::object exc = make(static_cast<int>(e.code()), std::string(eqinfo::errc_name(e.code())), e.what());
      PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(exc.ptr())), exc.ptr());
    } catch (py::error_already_set& failed) {
      failed.restore();  // the import failed: report that instead
    }
  }
}

}  // namespace

// python/src/shard_bindings.cpp: the shard pipeline of `eqinfo shard`, per shard (eqinfo.dask).
void register_shard_bindings(py::module_& m);

PYBIND11_MODULE(_eqinfo, m) {
  m.doc() = "eqinfo C++ core (use the 'eqinfo' package, not this module)";
  py::register_exception_translator(&translate);

  m.attr("version") = std::to_string(EQINFO_VERSION_MAJOR) + "." + std::to_string(EQINFO_VERSION_MINOR) + "." +
                      std::to_string(EQINFO_VERSION_PATCH);
  m.attr("stream_format") = EQINFO_STREAM_FORMAT;
  m.attr("min_precision_bits") = eqinfo::min_precision_bits;
  m.attr("max_precision_bits") = eqinfo::max_precision_bits;
  m.attr("max_token_bits") = eqinfo::max_token_bits;
  m.attr("max_window_bits") = eqinfo::max_window_bits;
  m.attr("default_lanes") = eqinfo::default_lanes;
  {
    py::dict codes;  // code -> "area.name", every stable code (docs/format.md)
    for (int c = 1; c < 64; ++c) {
      const std::string_view name = eqinfo::errc_name(static_cast<eqinfo::errc>(c));
      if (name != "unknown") codes[py::int_(c)] = std::string(name);
    }
    m.attr("error_codes") = codes;
  }

  py::class_<tokenizer_core>(m, "TokenizerCore")
      .def(py::init<const std::optional<py::bytes>&, const std::string&, const std::string&, unsigned,
                    std::optional<unsigned>, std::optional<unsigned>, const std::string&, bool,
                    std::optional<std::uint64_t>, std::optional<std::size_t>>(),
           py::arg("model"), py::arg("source"), py::arg("method"), py::arg("window_bits"), py::arg("token_bits"),
           py::arg("precision"), py::arg("rule"), py::arg("run_self_test") = true,
           py::arg("segment_bytes") = py::none(), py::arg("lanes") = py::none())
      .def("info", &tokenizer_core::info)
      .def("encode", &tokenizer_core::encode, py::arg("data"), py::arg("threads") = 1, py::arg("offsets") = false)
      .def("decode", &tokenizer_core::decode, py::arg("tokens"), py::arg("n_bytes"), py::arg("threads") = 1)
      .def("encode_batch", &tokenizer_core::encode_batch, py::arg("items"), py::arg("threads") = 0,
           py::arg("offsets") = false)
      .def("decode_batch", &tokenizer_core::decode_batch, py::arg("tokens"), py::arg("n_bytes"), py::arg("threads") = 0)
      .def("decode_bare_batch", &tokenizer_core::decode_bare_batch, py::arg("tokens"), py::arg("threads") = 0)
      .def("encode_eqt", &tokenizer_core::encode_eqt, py::arg("data"))
      .def("decode_eqt", &tokenizer_core::decode_eqt, py::arg("data"), py::arg("source"), py::arg("bare") = false,
           py::arg("threads") = 1);

  py::class_<stream_core>(m, "StreamDecoderCore")
      .def(py::init<tokenizer_core&, std::optional<std::uint64_t>>(), py::arg("tokenizer"), py::arg("byte_count"))
      .def("push", &stream_core::push, py::arg("tokens"))
      .def("finish", &stream_core::finish)
      .def("reset", &stream_core::reset, py::arg("byte_count"))
      .def_property_readonly("tokens_seen", &stream_core::tokens_seen)
      .def_property_readonly("bytes_out", &stream_core::bytes_out);
  py::class_<batch_stream_core>(m, "BatchStreamDecoderCore")
      .def(py::init<tokenizer_core&, std::size_t>(), py::arg("tokenizer"), py::arg("sequences"))
      .def("push", &batch_stream_core::push, py::arg("chunks"))
      .def("finish", &batch_stream_core::finish, py::arg("sequence"))
      .def("reset", &batch_stream_core::reset, py::arg("sequence"))
      .def_property_readonly("size", &batch_stream_core::size);
  // The longest prefix of whole UTF-8 characters (eqinfo::incomplete_utf8_suffix held back).
  m.def("utf8_complete", &utf8_complete, py::arg("data"));

  m.def("train_unigram", &train_unigram, py::arg("items"), py::arg("precision") = 16);
  m.def("m1_random", &m1_random, py::arg("layers") = 3, py::arg("d_model") = 256, py::arg("heads") = 4,
        py::arg("head_dim") = 64, py::arg("d_ff") = 1024, py::arg("context") = 1024, py::arg("seed") = 1);
  m.def("read_eqt", &read_eqt, py::arg("data"), py::arg("source") = "<bytes>");
  register_shard_bindings(m);
}
