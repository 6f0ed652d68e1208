#include "tools/gantry/bench/waterfall_svg.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>
#include <string_view>
#include <vector>

#include "core/utf8.hpp"
#include "tools/gantry/progress_output.hpp"

namespace gantry::tools::bench {
namespace {

constexpr double kWidth = 1000;
constexpr double kLabelWidth = 262;  // the row labels, left of the plot
constexpr double kPlotLeft = kLabelWidth + 10;
constexpr double kPlotRight = kWidth - 30;
constexpr double kRowHeight = 24;
constexpr double kTop = 78;  // below the title and the axis' labels

struct Colour {
  const char* name;
  const char* fill;
};
constexpr Colour kStartup{"gantry starting", "#b0b7c3"};
constexpr Colour kResolve{"resolve (auth, manifest, config)", "#8e6fd8"};
constexpr Colour kWaiting{"waiting for a download", "#e3e6ea"};
constexpr Colour kFetch{"fetch", "#3b82c4"};
constexpr Colour kVerify{"verify", "#1f4e79"};
constexpr Colour kDecode{"decode (streams with the fetch)", "#f2a541"};
constexpr Colour kApply{"apply, after the last byte decoded", "#4caf6e"};
constexpr Colour kCommit{"commit", "#2e6b45"};
constexpr Colour kPhase{"launch and run", "#d9534f"};

// The length of the UTF-8 sequence `text` starts with if it is well formed
// and a character XML 1.0 allows (§2.2), else 0: a control character but
// tab is not one, nor U+FFFE and U+FFFF.
std::size_t xml_char_length(std::string_view text) {
  const auto lead = static_cast<unsigned char>(text[0]);
  if (lead < 0x80) return lead >= 0x20 || lead == '\t' ? 1 : 0;
  const std::size_t length = core::utf8_sequence_length(text);
  const bool nonchar = length == 3 && lead == 0xEF && static_cast<unsigned char>(text[1]) == 0xBF &&
                       static_cast<unsigned char>(text[2]) >= 0xBE;
  return nonchar ? 0 : length;
}

// Text as XML character data or an attribute value: the markup characters
// escaped, and what XML cannot hold (control characters, invalid UTF-8, a
// character cut by substr) replaced by '?': a registry's bytes, or a digest
// cut to its first 19, must not make the document unreadable.
std::string escaped(std::string_view text) {
  std::string out;
  while (!text.empty()) {
    const std::size_t length = xml_char_length(text);
    switch (length == 0 ? '\0' : text[0]) {
      case '\0': out += '?'; break;
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += text.substr(0, length);
    }
    text.remove_prefix(std::max<std::size_t>(length, 1));
  }
  return out;
}

std::string format(const char* pattern, auto... values) {
  char out[512];
  std::snprintf(out, sizeof out, pattern, values...);
  return out;
}

std::string duration_text(double seconds) {
  if (seconds < 1) return format("%.0f ms", seconds * 1000);
  return format("%.2f s", seconds);
}

// In ms on an axis under a second, else in seconds.
std::string tick_text(double seconds, double span) {
  if (span < 1) return format("%.0f ms", seconds * 1000);
  return format("%g s", seconds);
}

class Canvas {
 public:
  explicit Canvas(double span) : span_(span) {}

  [[nodiscard]] double x(double seconds) const {
    return kPlotLeft + std::clamp(seconds / span_, 0.0, 1.0) * (kPlotRight - kPlotLeft);
  }

  // A bar from `start` to `end` on a row lane, with its exact times on hover.
  void bar(double y, double height, double start, double end, const Colour& colour, std::string_view what) {
    if (end < start) return;
    const double left = x(start);
    const double width = std::max(x(end) - left, 1.0);  // an instant still shows
    body_ += format(R"(<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" rx="2" fill="%s">)", left, y, width, height,
                    colour.fill);
    body_ += "<title>" + escaped(what) + ": " + format("%.4f", start) + " s to " + format("%.4f", end) + " s (" +
             duration_text(end - start) + ")</title></rect>\n";
  }
  void text(double x, double y, std::string_view content, const char* attributes = "") {
    body_ += format(R"(<text x="%.1f" y="%.1f" %s>)", x, y, attributes) + escaped(content) + "</text>\n";
  }
  void raw(const std::string& element) { body_ += element; }
  [[nodiscard]] const std::string& body() const { return body_; }

 private:
  double span_;
  std::string body_;
};

std::optional<double> end_of(const RunRecord& run, std::string_view phase) {
  for (const Phase& p : run.phases) {
    if (p.name == phase) return p.end;
  }
  return std::nullopt;
}

void draw_layer(Canvas& canvas, double y, const LayerSteps& layer) {
  const double lane = (kRowHeight - 8) / 2;
  const double top = y + 3, bottom = y + 4 + lane;
  if (!layer.first_byte) {
    canvas.text(kPlotLeft + 4, y + 16, "in store: nothing fetched or unpacked", R"(class="note")");
    return;
  }
  const double first = *layer.first_byte;
  if (layer.queued) canvas.bar(top, lane, *layer.queued, first, kWaiting, "waiting for a download");
  if (layer.last_byte) {
    canvas.bar(top, lane, first, *layer.last_byte, kFetch, "fetch");
    if (layer.verified) canvas.bar(top, lane, *layer.last_byte, *layer.verified, kVerify, "verify");
  }
  if (layer.decoded) {
    canvas.bar(bottom, lane, first, *layer.decoded, kDecode, "decode");
    if (layer.applied) {
      canvas.bar(bottom, lane, *layer.decoded, *layer.applied, kApply, "apply");
      if (layer.committed) canvas.bar(bottom, lane, *layer.applied, *layer.committed, kCommit, "commit");
    }
  }
}

}  // namespace

double tick_step(double seconds) {
  if (!(seconds > 0)) return 0.001;
  const double raw = seconds / 8;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  for (double factor : {1.0, 2.0, 5.0, 10.0}) {
    if (factor * magnitude >= raw) return factor * magnitude;
  }
  return 10 * magnitude;
}

std::string waterfall_svg(const WaterfallTitle& title, const RunRecord& run) {
  // The axis spans every time drawn (a time that is not finite is not one).
  double latest = std::isfinite(run.ready) ? run.ready : 0;
  for (const LayerSteps& l : run.layers) {
    for (const auto& at : {l.queued, l.first_byte, l.last_byte, l.verified, l.decoded, l.applied, l.committed}) {
      if (at && std::isfinite(*at)) latest = std::max(latest, *at);
    }
  }
  const double step = tick_step(latest);
  const double span = std::max(step, std::ceil(latest / step - 1e-9) * step);
  Canvas canvas(span);

  double y = kTop;
  auto row_label = [&](const std::string& label, const char* attributes = R"(class="label")") {
    canvas.text(kLabelWidth, y + 16, label, attributes);
  };
  std::vector<const Colour*> legend;
  auto use = [&](const Colour& c) {
    if (std::find(legend.begin(), legend.end(), &c) == legend.end()) legend.push_back(&c);
  };

  const bool gantry = run.tool == "gantry";
  std::size_t first_phase = 0;
  if (gantry) {
    const double started = end_of(run, "startup").value_or(0);
    row_label("start gantry");
    canvas.bar(y + 4, kRowHeight - 8, 0, started, kStartup, "process start to engine");
    use(kStartup);
    y += kRowHeight;
    const double resolved = end_of(run, "resolve").value_or(started);
    row_label("resolve");
    canvas.bar(y + 4, kRowHeight - 8, started, resolved, kResolve, "resolve");
    use(kResolve);
    std::vector<Mark> in_order = run.marks;
    std::stable_sort(in_order.begin(), in_order.end(), [](const Mark& a, const Mark& b) { return a.at < b.at; });
    std::string marks;
    for (const Mark& m : in_order) {
      if (m.name == "resolve") continue;
      canvas.raw(format(R"(<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" class="mark"/>)", canvas.x(m.at),
                        canvas.x(m.at), y + 2, y + kRowHeight - 2) + "\n");
      marks += (marks.empty() ? "" : ", ") + m.name + " " + duration_text(m.at);
    }
    if (!marks.empty()) canvas.text(canvas.x(resolved) + 6, y + 16, marks, R"(class="note")");
    y += kRowHeight;
    const std::size_t shown = run.layers.size() > kMaxLayerRows ? kMaxLayerRows - 1 : run.layers.size();
    for (std::size_t i = 0; i < shown; ++i) {
      const LayerSteps& layer = run.layers[i];
      row_label(format("%zu ", i + 1) + layer.digest.substr(0, 7 + 12) + " " + human_bytes(layer.size));
      draw_layer(canvas, y, layer);
      y += kRowHeight;
    }
    if (shown < run.layers.size()) {
      row_label(format("… %zu more layers", run.layers.size() - shown));
      y += kRowHeight;
    }
    if (!run.layers.empty()) {
      for (const Colour* c : {&kWaiting, &kFetch, &kVerify, &kDecode, &kApply, &kCommit}) use(*c);
    }
    while (first_phase < run.phases.size() && run.phases[first_phase].name != "layers") ++first_phase;
    first_phase = std::min(first_phase + 1, run.phases.size());
  }
  for (std::size_t i = first_phase; i < run.phases.size(); ++i) {
    const Phase& p = run.phases[i];
    row_label(p.name);
    canvas.bar(y + 4, kRowHeight - 8, p.start, p.end, kPhase, p.name);
    canvas.text(canvas.x(p.end) + 6, y + 16, duration_text(p.end - p.start), R"(class="note")");
    use(kPhase);
    y += kRowHeight;
  }
  const double rows_bottom = y;

  // The time axis: grid lines through the rows, labels above and below.
  std::string axis;
  const long ticks = std::lround(span / step);  // a handful: span is a whole number of steps
  for (long i = 0; i <= ticks; ++i) {
    const double t = static_cast<double>(i) * step;
    const double x = canvas.x(t);
    axis += format(R"(<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" class="grid"/>)", x, x, kTop - 4, rows_bottom + 4);
    axis += format(R"(<text x="%.1f" y="%.1f" class="tick">)", x, kTop - 10) + tick_text(t, span) + "</text>";
    axis += format(R"(<text x="%.1f" y="%.1f" class="tick">)", x, rows_bottom + 18) + tick_text(t, span) + "</text>\n";
  }
  const double ready_x = canvas.x(run.ready);
  std::string ready = format(R"(<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" class="ready"/>)", ready_x, ready_x,
                             kTop - 6, rows_bottom + 6);
  ready += format(R"(<text x="%.1f" y="%.1f" class="readytext">)", std::min(ready_x, kWidth - 52), kTop - 24) +
           "ready " + format("%.3f s", run.ready) + "</text>\n";

  // The legend and what the tool used.
  y = rows_bottom + 40;
  std::string legend_svg;
  double x = kPlotLeft;
  for (const Colour* c : legend) {
    const double width = 28 + 6.4 * static_cast<double>(std::string_view(c->name).size());
    if (x + width > kWidth - 10) {
      x = kPlotLeft;
      y += 18;
    }
    legend_svg += format(R"(<rect x="%.1f" y="%.1f" width="12" height="12" rx="2" fill="%s"/>)", x, y - 10, c->fill);
    legend_svg += format(R"(<text x="%.1f" y="%.1f" class="legend">)", x + 16, y) + escaped(c->name) + "</text>\n";
    x += width;
  }
  if (gantry && !run.layers.empty()) {
    y += 18;
    legend_svg += format(R"(<text x="%.1f" y="%.1f" class="legend">)", kPlotLeft, y) +
                  "each layer: top lane the download, bottom lane decoding and applying while it arrives; "
                  "a bar ends when the step did</text>\n";
  }
  if (run.usage) {
    y += 20;
    legend_svg += format(R"(<text x="%.1f" y="%.1f" class="legend">)", kPlotLeft, y) +
                  escaped(format("gantry used %.2f s user + %.2f s sys CPU, peak RSS %s; %s fetched",
                                 run.usage->user_seconds, run.usage->sys_seconds,
                                 human_bytes(run.usage->max_rss_bytes).c_str(), human_bytes(run.bytes_fetched).c_str())) +
                  "</text>\n";
  }
  const double height = y + 16;

  std::string svg = format(R"(<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="Helvetica, Arial, sans-serif">)",
                           kWidth, height, kWidth, height) + "\n";
  svg +=
      "<style>"
      ".title{font-size:15px;font-weight:bold;fill:#222}.subtitle{font-size:12px;fill:#555}"
      ".label{font-size:11px;fill:#333;text-anchor:end;font-family:monospace}"
      ".tick{font-size:10px;fill:#777;text-anchor:middle}.note{font-size:10px;fill:#555}"
      ".legend{font-size:11px;fill:#444}.grid{stroke:#eceef1;stroke-width:1}"
      ".mark{stroke:#fff;stroke-width:1.5}.ready{stroke:#c0392b;stroke-width:1.5;stroke-dasharray:4 3}"
      ".readytext{font-size:12px;font-weight:bold;fill:#c0392b;text-anchor:middle}"
      "</style>\n";
  svg += R"(<rect width="100%" height="100%" fill="#fff"/>)" "\n";
  svg += "<text x=\"12\" y=\"22\" class=\"title\">" + escaped(title.image) + "</text>\n";
  svg += "<text x=\"12\" y=\"40\" class=\"subtitle\">" + escaped(title.subtitle) + "</text>\n";
  svg += axis + canvas.body() + ready + legend_svg + "</svg>\n";
  return svg;
}

}  // namespace gantry::tools::bench
