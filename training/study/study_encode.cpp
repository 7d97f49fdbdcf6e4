// SPDX-License-Identifier: MIT
// Helper of training/study/compression_study.py: encodes examples with one
// (method, window size, cut policy) and writes what the study needs that the
// eqinfo CLI does not print: the exact code of every example, the bytes of
// every window, per-token byte spans, how plain greedy windows would be read
// back, and the encoding time (wall and thread CPU).
//
//   study_encode MODEL INPUT -o PREFIX [options]
//
// MODEL    an M1 file (safetensors), a unigram file ("EQINFOUG") or 'uniform'
// INPUT    bytes; example i is bytes [i*E, (i+1)*E) (the last may be shorter)
// options  --example-bytes E (10240)   --method ac|eq (eq)   -b B (16)
//          --policy delay|greedy-exact|greedy (delay; 'greedy' is the paper's
//          plain greedy cut, not exactly decodable: the library's
//          cut_policy::greedy_unchecked)   --spans   --first I --count C
//          -P precision (16)
//
// Writes PREFIX.bits (each example's code, MSB first, zero-padded to a whole
// byte, examples one after another) and PREFIX.json:
//   {"model_kind", "fingerprint", "method", "window_bits", "policy", "precision",
//    "wall_s", "cpu_s"  (encoding only, this thread),
//    "examples": [{"bytes": n, "bits": L, "windows": [k...]?, "spans": [[d...]...]?}],
//    "misread_by_delay", "misread_by_greedy_exact", "zero_bit_end" (policy greedy)}
// spans (--spans, eq only): for each window, after each 8-bit boundary t =
// 8, 16, ..., b of the window, the number of the window's bytes that its first
// t bits determine (every point of the cell of the t-bit prefix decodes to
// them; capped at the window's byte count k; the value at t = b is k).
// Every eq encoding with policy delay or greedy-exact is decoded and compared.
#include <eqinfo/tokenizer.hpp>
#include <eqinfo/transformer.hpp>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <string>
#include <time.h>
#include <vector>

namespace {

std::vector<std::uint8_t> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

struct options {
  std::string model, input, out;
  std::size_t example_bytes = 10240;
  bool ac = false;
  unsigned b = 16;
  unsigned precision = 16;
  std::string policy = "delay";
  bool spans = false;
  std::size_t first = 0;
  std::size_t count = static_cast<std::size_t>(-1);
};

struct example_result {
  std::size_t bytes = 0;
  std::size_t bits = 0;
  std::vector<std::size_t> windows;
  std::vector<std::vector<std::size_t>> spans;
};

/// CDFs of bytes[0..n) from a freshly reset model.
template <class M>
void window_cdfs(M& model, std::span<const std::uint8_t> bytes, std::vector<eqinfo::cdf_table>& out) {
  model.reset();
  out.resize(bytes.size());
  if constexpr (eqinfo::batched_byte_model<M>) {
    if (!bytes.empty()) model.predict_run(bytes, std::span<eqinfo::cdf_table>(out.data(), bytes.size()));
  } else {
    for (std::size_t i = 0; i < bytes.size(); ++i) {
      out[i] = model.predict();
      model.update(bytes[i]);
    }
  }
}

/// How many of the window's k bytes its first t bits determine.
std::size_t determined_bytes(const eqinfo::bit_vector& window, std::size_t t, std::span<const std::uint8_t> bytes,
                             const std::vector<eqinfo::cdf_table>& cdfs, unsigned precision) {
  eqinfo::bit_vector prefix;
  prefix.append_range(window, 0, t);
  eqinfo::arithmetic_decoder low(prefix, 0, t, precision, false);
  eqinfo::arithmetic_decoder high(prefix, 0, t, precision, true);
  std::size_t j = 0;
  for (; j < bytes.size(); ++j) {
    const std::uint8_t a = low.peek(cdfs[j]);
    if (high.peek(cdfs[j]) != a) break;
    if (a != bytes[j]) throw std::runtime_error("span decoding disagrees with the encoded bytes");
    low.consume(cdfs[j], a);
    high.consume(cdfs[j], a);
  }
  return j;
}

struct misread_counts {
  std::size_t delay = 0, greedy_exact = 0, zero_bit_end = 0;
};

template <class M>
example_result encode_example(M& model, std::span<const std::uint8_t> text, const options& o, eqinfo::bit_vector& bits,
                              double& wall, double& cpu, misread_counts& mis) {
  example_result r;
  r.bytes = text.size();
  eqinfo::settings s;
  s.precision_bits = o.precision;
  s.token_bits = 8;
  if (o.ac) {
    s.kind = eqinfo::method::ac;
    const auto t0 = std::chrono::steady_clock::now();
    const double c0 = thread_cpu_seconds();
    // The tokenizer pads to whole tokens; the study wants the exact code length.
    model.reset();
    eqinfo::arithmetic_encoder encoder(o.precision);
    std::vector<eqinfo::cdf_table> buffer;
    eqinfo::detail::cdf_feed<M> feed(model, text, o.precision, buffer, 256);
    while (feed.pos() < text.size()) {
      encoder.encode(feed.current(), text[feed.pos()]);
      feed.advance();
    }
    bits = encoder.finish();
    cpu += thread_cpu_seconds() - c0;
    wall += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    r.bits = bits.size();
    return r;
  }
  s.kind = eqinfo::method::equal_info_ac;
  s.window_bits = o.b;
  s.rule = o.policy == "greedy-exact" ? eqinfo::window_rule::greedy_exact : eqinfo::window_rule::delay;
  const auto policy =
      o.policy == "greedy" ? eqinfo::detail::cut_policy::greedy_unchecked : eqinfo::detail::cut_policy::by_rule;
  // Windows one by one (as encode_equal_info does), recording each cut.
  bits.clear();
  eqinfo::detail::window_scratch scratch;
  std::size_t pos = 0;
  std::vector<eqinfo::bit_vector> windows;
  {
    const auto t0 = std::chrono::steady_clock::now();
    const double c0 = thread_cpu_seconds();
    while (pos < text.size()) {
      const std::size_t k = eqinfo::detail::encode_window(model, text.subspan(pos), s, scratch, policy);
      r.windows.push_back(k);
      bits.append_range(scratch.window, 0, scratch.window.size());
      if (policy == eqinfo::detail::cut_policy::greedy_unchecked && pos + k < text.size() && k >= 2) {
        eqinfo::bit_vector last, before;
        eqinfo::detail::padded_code(scratch.emitted, scratch.states[k - 1], o.b, last);
        eqinfo::detail::padded_code(scratch.emitted, scratch.states[k - 2], o.b, before);
        mis.zero_bit_end += last == before;
      }
      pos += k;
    }
    cpu += thread_cpu_seconds() - c0;
    wall += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  r.bits = bits.size();
  // Per-window analysis (not timed).
  std::vector<eqinfo::cdf_table> cdfs;
  eqinfo::bit_vector window;
  pos = 0;
  for (std::size_t i = 0; i < r.windows.size(); ++i) {
    const std::size_t k = r.windows[i];
    window.clear();
    window.append_range(bits, i * o.b, (i + 1) * o.b);
    const bool final_window = pos + k == text.size();
    if (policy == eqinfo::detail::cut_policy::greedy_unchecked && !final_window) {
      for (int rule = 0; rule < 2; ++rule) {
        eqinfo::settings rs = s;
        rs.rule = rule == 0 ? eqinfo::window_rule::delay : eqinfo::window_rule::greedy_exact;
        std::vector<std::uint8_t> out;
        const auto got = eqinfo::detail::decode_window(model, window, rs, out);
        (rule == 0 ? mis.delay : mis.greedy_exact) += got.bytes != k;
      }
    }
    if (o.spans) {
      const auto wb = text.subspan(pos, k);
      window_cdfs(model, wb, cdfs);
      std::vector<std::size_t> d;
      for (std::size_t t = 8; t < o.b; t += 8) d.push_back(determined_bytes(window, t, wb, cdfs, o.precision));
      if (determined_bytes(window, o.b, wb, cdfs, o.precision) != k)
        throw std::runtime_error("a window's bits do not determine its bytes");
      d.push_back(k);
      r.spans.push_back(std::move(d));
    }
    pos += k;
  }
  if (policy == eqinfo::detail::cut_policy::by_rule) {
    const auto back = eqinfo::decode_equal_info(model, bits, s, text.size());
    if (!std::equal(back.begin(), back.end(), text.begin(), text.end())) throw std::runtime_error("round trip failed");
  }
  return r;
}

template <class M>
int run(M model, const std::string& kind, std::uint32_t fingerprint, const options& o) {
  const auto input = read_file(o.input);
  const std::size_t total = (input.size() + o.example_bytes - 1) / o.example_bytes;
  const std::size_t last = o.count == static_cast<std::size_t>(-1) ? total : std::min(total, o.first + o.count);
  std::ofstream bits_out(o.out + ".bits", std::ios::binary);
  eqinfo::detail::json_writer json;  // one object; its examples one per line
  json.object().member("model_kind", kind).member("fingerprint", eqinfo::detail::hex32(fingerprint));
  json.member("method", o.ac ? "ac" : "eq").member("window_bits", o.b).member("policy", o.policy);
  json.member("precision", o.precision).key("examples").array(true);
  double wall = 0, cpu = 0;
  misread_counts mis;
  eqinfo::bit_vector bits;
  for (std::size_t e = o.first; e < last; ++e) {
    const std::size_t begin = e * o.example_bytes;
    const std::size_t n = std::min(o.example_bytes, input.size() - begin);
    const example_result r =
        encode_example(model, std::span<const std::uint8_t>(input.data() + begin, n), o, bits, wall, cpu, mis);
    std::vector<char> packed((bits.size() + 7) / 8, 0);
    for (std::size_t i = 0; i < bits.size(); ++i)
      if (bits[i]) packed[i / 8] = static_cast<char>(packed[i / 8] | (0x80 >> (i % 8)));
    bits_out.write(packed.data(), static_cast<std::streamsize>(packed.size()));
    json.object().member("bytes", r.bytes).member("bits", r.bits);
    if (!o.ac) {
      json.key("windows").array();
      for (const auto w : r.windows) json.value(w);
      json.end();
    }
    if (o.spans) {
      json.key("spans").array();
      for (const auto& span : r.spans) {
        json.array();
        for (const auto v : span) json.value(v);
        json.end();
      }
      json.end();
    }
    json.end();
  }
  char timing[64];
  json.end();
  std::snprintf(timing, sizeof timing, "%.6f", wall);
  json.key("wall_s").raw(timing);
  std::snprintf(timing, sizeof timing, "%.6f", cpu);
  json.key("cpu_s").raw(timing);
  if (o.policy == "greedy")
    json.member("misread_by_delay", mis.delay)
        .member("misread_by_greedy_exact", mis.greedy_exact)
        .member("zero_bit_end", mis.zero_bit_end);
  json.end();
  std::ofstream(o.out + ".json") << json.str() << "\n";
  if (!bits_out) throw std::runtime_error("cannot write " + o.out + ".bits");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    options o;
    std::vector<std::string> positional;
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      auto value = [&]() -> std::string {
        if (i + 1 >= argc) throw std::runtime_error("option " + a + " needs a value");
        return argv[++i];
      };
      if (a == "-o")
        o.out = value();
      else if (a == "--example-bytes")
        o.example_bytes = std::stoul(value());
      else if (a == "--method") {
        const std::string m = value();
        if (m != "ac" && m != "eq") throw std::runtime_error("--method is ac or eq");
        o.ac = m == "ac";
      } else if (a == "-b")
        o.b = static_cast<unsigned>(std::stoul(value()));
      else if (a == "-P")
        o.precision = static_cast<unsigned>(std::stoul(value()));
      else if (a == "--policy") {
        o.policy = value();
        if (o.policy != "delay" && o.policy != "greedy-exact" && o.policy != "greedy")
          throw std::runtime_error("--policy is delay, greedy-exact or greedy");
      } else if (a == "--spans")
        o.spans = true;
      else if (a == "--first")
        o.first = std::stoul(value());
      else if (a == "--count")
        o.count = std::stoul(value());
      else if (!a.empty() && a[0] == '-')
        throw std::runtime_error("unknown option " + a);
      else
        positional.push_back(a);
    }
    if (positional.size() != 2 || o.out.empty() || o.example_bytes == 0) {
      std::fprintf(stderr, "usage: study_encode MODEL INPUT -o PREFIX [options] (see the source)\n");
      return 2;
    }
    o.model = positional[0];
    o.input = positional[1];
    if (o.model == "uniform") {
      eqinfo::uniform_model m(o.precision);
      return run(m, "uniform", m.fingerprint(), o);
    }
    const auto file = eqinfo::load_model_file(o.model);
    if (const auto* u = std::get_if<eqinfo::unigram_model>(&file)) {
      const auto m = u->with_precision(o.precision);
      return run(m, "unigram", m.fingerprint(), o);
    }
    const auto& f = std::get<eqinfo::m1_file>(file);
    return run(f.model(o.precision), "m1", f.fingerprint, o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "study_encode: %s\n", e.what());
    return 1;
  }
}
