// The report page in a real browser: Debian's Chromium, headless, loading the page from disk
// (file://). The page's own self-check (report_assets.cc) records on <html> whether every image
// decoded and every video loaded its metadata; --dump-dom reads that back after the page has
// run. Console messages come from --enable-logging=stderr, where this Chromium (156) writes
// every console call and uncaught error as "...:CONSOLE:<line>] "<message>", source: ..." at
// INFO level whatever the console level, so any such line fails the test (the page logs
// nothing). Skipped when Chromium is not installed. The video answer is a real H.264 MP4 and GIF
// made by the ffmpeg command; without ffmpeg the pages have no video (the test says so).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "common/atomic_file.h"
#include "media/image_io.h"
#include "report/report.h"
#include "report_fixture.h"
#include "skip_or_fail.h"
#include "tiny_bundle.h"

namespace evosearch {
namespace {

namespace fs = std::filesystem;
using testing_support::fresh_dir;
using testing_support::ReportJob;
using testing_support::write_report_job;

std::string chromium_binary() {
  for (const std::string name : {"chromium", "chromium-browser"}) {
    if (std::system(("command -v " + name + " > /dev/null 2>&1").c_str()) == 0) return name;
  }
  return "";
}

#define REQUIRE_CHROMIUM(binary)                \
  const std::string binary = chromium_binary(); \
  if (binary.empty()) EVOSEARCH_SKIP_UNLESS_CI("chromium", "not installed (apt-get install chromium); page not loaded")

// Whether the page gets a real video: without ffmpeg it has none to check (said, or under CI a
// failure: cluster/test.sh installs ffmpeg), and the rest of the test still runs.
bool ffmpeg_for_video() {
  if (testing_support::ffmpeg_available()) return true;
  const char* why = "ffmpeg is not installed (apt-get install ffmpeg): the page has no video to check";
  if (testing_support::under_ci()) {
    ADD_FAILURE() << "CI=true and " << why;
  } else {
    std::cout << why << "\n";
  }
  return false;
}

std::string file_text(const std::string& path) {
  StatusOr<std::string> text = read_file(path);
  return text.ok() ? *text : "";
}

struct BrowserRun {
  int exit_code = -1;
  std::string out;                   // stdout: the DOM with --dump-dom
  std::vector<std::string> console;  // console messages and uncaught errors
};

// Runs headless Chromium on `url` with `flags`, in a fresh profile under `work_dir`.
BrowserRun run_chromium(const std::string& binary, const std::string& work_dir, const std::string& flags,
                        const std::string& url) {
  static std::atomic<int> runs{0};
  const std::string n = std::to_string(runs++);
  const std::string profile = work_dir + "/profile-" + n, out = work_dir + "/stdout-" + n,
                    err = work_dir + "/stderr-" + n;
  fs::create_directories(profile);
  const std::string command = "timeout 120 " + binary +
                              " --headless --no-sandbox --disable-gpu --disable-quic --no-first-run"
                              " --disable-background-networking --disable-component-update --disable-sync"
                              " --user-data-dir='" +
                              profile + "' --enable-logging=stderr --v=0 " + flags + " '" + url + "' > '" + out +
                              "' 2> '" + err + "'";
  BrowserRun run;
  const int status = std::system(command.c_str());
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  run.out = file_text(out);
  std::istringstream log(file_text(err));
  for (std::string line; std::getline(log, line);) {
    if (line.find(":CONSOLE") != std::string::npos) run.console.push_back(line);
  }
  fs::remove_all(profile);
  return run;
}

std::string attribute(const std::string& dom, const std::string& name) {
  const std::regex pattern(" " + name + "=\"([^\"]*)\"");
  std::smatch m;
  return std::regex_search(dom, m, pattern) ? m[1].str() : "(absent)";
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++n;
  return n;
}

struct MediaCheck {
  std::string outcome;  // "ok", "broken", "pending", or "(absent)" when the script did not run
  std::string broken;
  std::string checked;
  std::string pending;
  std::vector<std::string> console;
  std::string dom;
};

// Loads the page with #selftest (lazy images load too) and reads back the self-check.
MediaCheck check_page(const std::string& binary, const std::string& page) {
  const BrowserRun run =
      run_chromium(binary, fs::path(page).parent_path().string(), "--virtual-time-budget=20000 --dump-dom",
                   "file://" + fs::absolute(page).string() + "#selftest");
  EXPECT_EQ(run.exit_code, 0);
  MediaCheck c;
  c.dom = run.out;
  const std::string root = run.out.substr(0, run.out.find('>', run.out.find("<html")) + 1);
  c.outcome = attribute(root, "data-media-check");
  c.broken = attribute(root, "data-media-broken");
  c.checked = attribute(root, "data-media-checked");
  c.pending = attribute(root, "data-media-pending");
  c.console = run.console;
  return c;
}

void expect_clean_load(const std::string& binary, const std::string& page) {
  const std::string html = file_text(page);
  const MediaCheck c = check_page(binary, page);
  EXPECT_EQ(c.outcome, "ok") << page << ": broken: " << c.broken;
  EXPECT_EQ(c.pending, "0") << page;
  // Every <img> and <video> of the page was looked at.
  EXPECT_EQ(c.checked, std::to_string(count(html, "<img ") + count(html, "<video "))) << page;
  EXPECT_GT(count(html, "<img "), 0u);
  EXPECT_TRUE(c.console.empty()) << page << ": " << c.console.front();
}

// A screenshot of the page's first screen, for a person to look at; fails when it is blank.
void expect_screenshot(const std::string& binary, const std::string& page, const std::string& png) {
  const std::string flags = "--hide-scrollbars --window-size=1280,1600 --virtual-time-budget=5000 --screenshot='" + png + "'";
  const BrowserRun run =
      run_chromium(binary, fs::path(png).parent_path().string(), flags, "file://" + fs::absolute(page).string());
  EXPECT_EQ(run.exit_code, 0);
  StatusOr<Image> shot = read_png(png);
  ASSERT_TRUE(shot.ok()) << shot.status().to_string();
  EXPECT_EQ(shot->width, 1280);
  EXPECT_EQ(shot->height, 1600);
  // Not blank: no single colour covers more than 90% of it, and there are many colours.
  std::map<uint32_t, size_t> colours;
  for (size_t i = 0; i + 2 < shot->pixels.size(); i += shot->channels) {
    ++colours[(shot->pixels[i] << 16) | (shot->pixels[i + 1] << 8) | shot->pixels[i + 2]];
  }
  size_t most = 0;
  for (const auto& [colour, n] : colours) most = std::max(most, n);
  EXPECT_LT(most, static_cast<size_t>(shot->width) * shot->height * 9 / 10) << png;
  EXPECT_GT(colours.size(), 100u) << png;
  std::cout << "screenshot: " << png << "\n";
}

TEST(ReportBrowser, PagesLoadFromDiskWithEveryImageAndVideo) {
  REQUIRE_CHROMIUM(chromium);
  const std::string root = fresh_dir("report-browser");
  ReportJob evo, bon;
  evo.name = "evo";
  evo.score_offset = 0.1;
  const bool video = ffmpeg_for_video();
  if (video) evo.video = ReportJob::Video::kFfmpeg;
  bon.name = "bon";
  bon.method = "best-of-n";
  const ReportedJob a = write_report_job(root + "/evo", evo), b = write_report_job(root + "/bon", bon);
  ASSERT_TRUE(write_report({a}, root + "/evo/report.html").ok());
  ASSERT_TRUE(write_report({a, b}, root + "/compare/index.html").ok());
  if (video) {
    EXPECT_EQ(count(file_text(root + "/evo/report.html"), "<video "), 1u);
  }

  expect_clean_load(chromium, root + "/evo/report.html");
  expect_clean_load(chromium, root + "/compare/index.html");
  expect_screenshot(chromium, root + "/evo/report.html", root + "/screenshot-one.png");
  expect_screenshot(chromium, root + "/compare/index.html", root + "/screenshot-compare.png");
}

TEST(ReportBrowser, CheckerCatchesAMissingImageAndVideo) {
  REQUIRE_CHROMIUM(chromium);
  const std::string root = fresh_dir("report-browser-broken");
  ReportJob job;
  const bool video = ffmpeg_for_video();
  if (video) job.video = ReportJob::Video::kFfmpeg;
  const ReportedJob run = write_report_job(root, job);
  ASSERT_TRUE(write_report({run}, root + "/report.html").ok());
  // Files deleted after the page was written: what a person sees after moving only part of it.
  fs::remove(fs::path(root) / run.results.prompts(0).image());
  if (video) fs::remove(fs::path(root) / run.results.prompts(2).video());

  const MediaCheck c = check_page(chromium, root + "/report.html");
  EXPECT_EQ(c.outcome, "broken");
  EXPECT_NE(c.broken.find(run.results.prompts(0).image()), std::string::npos) << c.broken;
  if (video) {
    EXPECT_NE(c.broken.find(run.results.prompts(2).video()), std::string::npos) << c.broken;
  }
  EXPECT_EQ(c.broken.find("grids/"), std::string::npos) << c.broken;  // the others still load
  // The banner names them for a person.
  EXPECT_NE(c.dom.find("<div id=\"media-banner\" class=\"warn\">"), std::string::npos);
  EXPECT_NE(c.dom.find("did not load (moved or deleted files?): " + run.results.prompts(0).image()), std::string::npos);
}

TEST(ReportBrowser, CheckerCatchesConsoleErrors) {
  REQUIRE_CHROMIUM(chromium);
  const std::string root = fresh_dir("report-browser-console");
  ASSERT_TRUE(write_file_atomic(root + "/page.html",
                                "<!DOCTYPE html><html><body><p>x</p><script>console.error('report-boom');"
                                "undefined_function();</script></body></html>")
                  .ok());
  const MediaCheck c = check_page(chromium, root + "/page.html");
  ASSERT_EQ(c.console.size(), 2u);
  EXPECT_NE(c.console[0].find("report-boom"), std::string::npos) << c.console[0];
  EXPECT_NE(c.console[1].find("undefined_function is not defined"), std::string::npos) << c.console[1];
  EXPECT_EQ(c.outcome, "(absent)");  // no self-check on a page that is not a report
}

}  // namespace
}  // namespace evosearch
