// End-to-end tests of the `sparq` command line: the real binary is run on
// generated fixtures (and on the shipped model and the Fashion-MNIST test set
// when present). Output is checked for structure, never for timings; every
// bad input must give its documented exit code and a message naming the
// problem, and never a crash or a sanitizer report.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/cli/cli_fixtures.hpp"
#include "tests/cli/hostile_fixtures.hpp"

namespace sparq::cli_test {
namespace {
namespace fs = std::filesystem;

struct Result {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string read_file(const fs::path& path) {
  std::ifstream file(path, std::ios::binary);
  std::stringstream s;
  s << file.rdbuf();
  return s.str();
}

class Cli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("sparq_cli_test_" + std::to_string(getpid()));
    write_fixtures(dir_);
    write_hostile_fixtures(dir_);
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  static std::string path(const std::string& name) { return (dir_ / name).string(); }

  // The model the tests classify with: the shipped Fashion-MNIST model when
  // the training tools have produced it, else the generated one.
  static std::string classifier() {
    const std::string shipped = shipped_model();
    return shipped.empty() ? path("classifier_k3.sparq") : shipped;
  }
  // The first (by name) .sparq file in examples/models, or "".
  static std::string shipped_model() {
    std::vector<std::string> found;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(SPARQ_SHIPPED_MODELS, ec)) {
      if (entry.path().extension() == ".sparq") found.push_back(entry.path().string());
    }
    std::sort(found.begin(), found.end());
    return found.empty() ? "" : found.front();
  }

  // Runs `sparq ARGS` (with an optional environment prefix) through the shell.
  static Result sparq(const std::string& args, const std::string& env = "") {
    const fs::path out = dir_ / "stdout.txt", err = dir_ / "stderr.txt";
    const std::string command =
        env + " '" SPARQ_CLI "' " + args + " >'" + out.string() + "' 2>'" + err.string() + "'";
    const int status = std::system(command.c_str());
    Result r;
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    r.out = read_file(out);
    r.err = read_file(err);
    // No run may end in a sanitizer report, whatever its exit code.
    EXPECT_EQ(r.err.find("Sanitizer"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("runtime error:"), std::string::npos) << r.err;
    return r;
  }

  // A shell prefix that caps the command's address space, so a run that
  // allocates what it should have refused fails instead of passing. Not under
  // AddressSanitizer, whose shadow memory needs terabytes of address space.
  static std::string memory_capped(const std::string& limit_kib = "3000000") {
#if defined(__SANITIZE_ADDRESS__)
    (void)limit_kib;
    return "";
#else
    return "ulimit -v " + limit_kib + " &&";
#endif
  }

  // Runs a shell command line as is (for redirections the helper above
  // cannot express); stderr is captured.
  static Result shell(const std::string& command_line) {
    const fs::path err = dir_ / "stderr.txt";
    const int status = std::system((command_line + " 2>'" + err.string() + "'").c_str());
    Result r;
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    r.err = read_file(err);
    return r;
  }

  static inline fs::path dir_;
};

bool contains(const std::string& text, const std::string& fragment) {
  return text.find(fragment) != std::string::npos;
}

int count_matches(const std::string& text, const std::string& pattern) {
  const std::regex re(pattern);
  return static_cast<int>(
      std::distance(std::sregex_iterator(text.begin(), text.end(), re), std::sregex_iterator()));
}

// A failing command: the expected exit code, nothing on stdout that looks
// like a result, and one line on stderr naming the problem.
void expect_failure(const Result& r, int exit_code, const std::string& fragment) {
  EXPECT_EQ(r.exit_code, exit_code) << "stderr: " << r.err;
  EXPECT_TRUE(contains(r.err, fragment)) << "stderr '" << r.err << "' lacks '" << fragment << "'";
}

// ---- help and usage ----------------------------------------------------------

TEST_F(Cli, HelpListsEverySubcommandAndTheExitCodes) {
  const Result r = sparq("--help");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* command : {"inspect", "run", "classify", "eval", "calibrate", "bench",
                              "simulate", "sweep", "train", "prune", "study"}) {
    EXPECT_TRUE(contains(r.out, command)) << command;
  }
  EXPECT_TRUE(contains(r.out, "Exit codes: 0 ok"));
}

TEST_F(Cli, EverySubcommandHasHelp) {
  for (const char* command :
       {"inspect", "run", "classify", "eval", "calibrate", "bench", "simulate", "sweep"}) {
    const Result r = sparq(std::string(command) + " --help");
    EXPECT_EQ(r.exit_code, 0) << command << ": " << r.err;
    EXPECT_TRUE(contains(r.out, "Usage:")) << command;
  }
}

TEST_F(Cli, UsageMistakesExitWithTwo) {
  expect_failure(sparq(""), 2, "subcommand");
  expect_failure(sparq("frobnicate"), 2, "frobnicate");
  expect_failure(sparq("inspect " + classifier() + " --bogus"), 2, "--bogus");
  expect_failure(sparq("inspect"), 2, "MODEL");
  expect_failure(sparq("classify " + classifier() + " " + path("shirt.png") + " --top 0"), 2,
                 "--top");
  expect_failure(
      sparq("eval " + classifier() + " " + path("tiny-images-idx3-ubyte") + " --batch 0"), 2,
      "--batch");
  expect_failure(sparq("run " + classifier() + " " + path("shirt.png") + " --backend warp-drive"),
                 2, "unknown backend 'warp-drive'");
  expect_failure(sparq("bench " + classifier() + " --threads none"), 2, "'none' is not a positive");
  expect_failure(sparq("simulate " + classifier() + " --point turbo"), 2, "--point");
}

// ---- calibrate -----------------------------------------------------------------

// An idx3 file of 4x4 images, pixel (i) of image n = pixels[n][i].
void write_tiny_idx(const fs::path& path, const std::vector<std::vector<uint8_t>>& images) {
  std::vector<uint8_t> bytes;
  auto be32 = [&](uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) bytes.push_back(static_cast<uint8_t>(v >> s));
  };
  be32(0x803);
  be32(static_cast<uint32_t>(images.size()));
  be32(4);
  be32(4);
  for (const auto& image : images) bytes.insert(bytes.end(), image.begin(), image.end());
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
}

// 1x4x4 image (x = pixel / 255) -> quantize u8 'q_image' -> dequantize, and
// x -> x * -2 -> quantize s8 'q_negated' -> dequantize: the first quantizer
// reads the graph input itself, the second a node's result.
Model two_quantizer_model(float std_dev = 1.0f) {
  ModelBuilder b;
  const ValueId x = b.input({1, 4, 4}, DType::kF32, "image");
  b.mark_output(b.dequantize(b.quantize(x, 8, false, "q_image"), "image_back"));
  const ValueId negated = b.add_node(ChannelAffineOp{{-2.0f}, {0.0f}}, {x}, "negate");
  b.mark_output(b.dequantize(b.quantize(negated, 8, true, "q_negated"), "negated_back"));
  ModelMetadata meta;
  meta.preprocessing = {4, 4, 1, 1.0f / 255.0f, {}, {std_dev}};
  return b.build(meta);
}

const QuantizeOp& quantize_named(const Model& model, const std::string& name) {
  for (const Node& node : model.graph().nodes) {
    if (node.name == name) return std::get<QuantizeOp>(node.op);
  }
  throw std::runtime_error("no node " + name);
}

TEST_F(Cli, CalibrateSetsEachScaleFromTheLargestSampleMax) {
  two_quantizer_model().save(path("two_quantizers.sparq"));
  std::vector<std::vector<uint8_t>> images(3, std::vector<uint8_t>(16, 10));
  images[0][5] = 100;
  images[1][9] = 200;  // the largest pixel of the set, in the second image
  images[2][0] = 50;
  write_tiny_idx(path("four-images-idx3-ubyte"), images);

  const Result r =
      sparq("calibrate " + path("two_quantizers.sparq") + " -o " + path("two_static.sparq") +
            " --data " + path("four-images-idx3-ubyte") + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["samples"], 3);
  ASSERT_EQ(j["nodes"].size(), 2u);
  // By hand: x = 200 * (1/255); u8: s = max / 255; s8 reads -2x: s = 2 max / 127.
  const float max_image = 200.0f * (1.0f / 255.0f);
  EXPECT_EQ(j["nodes"][0]["name"], "q_image");
  EXPECT_EQ(j["nodes"][0]["max"].get<float>(), max_image);
  EXPECT_EQ(j["nodes"][0]["scale"].get<float>(), max_image / 255.0f);
  EXPECT_EQ(j["nodes"][1]["name"], "q_negated");
  EXPECT_EQ(j["nodes"][1]["max"].get<float>(), 2.0f * max_image);
  EXPECT_EQ(j["nodes"][1]["scale"].get<float>(), 2.0f * max_image / 127.0f);
  const auto calibrated = Model::load(path("two_static.sparq"));
  EXPECT_EQ(quantize_named(*calibrated, "q_image").scale, max_image / 255.0f);
  EXPECT_EQ(quantize_named(*calibrated, "q_negated").scale, 2.0f * max_image / 127.0f);
  EXPECT_EQ(quantize_named(*calibrated, "q_negated").is_signed, true);

  // --samples 1: only the first image (largest pixel 100).
  ASSERT_EQ(sparq("calibrate " + path("two_quantizers.sparq") + " -o " + path("first.sparq") +
                  " --data " + path("four-images-idx3-ubyte") + " --samples 1 --batch 1")
                .exit_code,
            0);
  EXPECT_EQ(quantize_named(*Model::load(path("first.sparq")), "q_image").scale,
            100.0f * (1.0f / 255.0f) / 255.0f);

  // Inspect tells the static scale from the dynamic rule.
  const Result inspect = sparq("inspect " + path("two_static.sparq"));
  ASSERT_EQ(inspect.exit_code, 0) << inspect.err;
  EXPECT_TRUE(contains(inspect.out, "static u8 s=")) << inspect.out;
  EXPECT_TRUE(contains(inspect.out, "static s8 s=")) << inspect.out;
  EXPECT_TRUE(contains(sparq("inspect " + path("two_quantizers.sparq")).out, "dynamic u8"));
}

TEST_F(Cli, CalibrateOnRandomInputsWritesAStaticModelThatRuns) {
  // The shipped k = 3 model when present, else the generated one.
  const std::string shipped_k3 = std::string(SPARQ_SHIPPED_MODELS) + "/fashion_k3.sparq";
  const std::string model = fs::exists(shipped_k3) ? shipped_k3 : path("classifier_k3.sparq");
  const Result r = sparq("calibrate " + model + " -o " + path("random_static.sparq") +
                         " --random 12 --seed 3 --batch 5 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["samples"], 12);
  const auto original = Model::load(model);
  const auto calibrated = Model::load(path("random_static.sparq"));
  size_t quantize_nodes = 0;
  for (size_t i = 0; i < calibrated->graph().nodes.size(); ++i) {
    const Node& node = calibrated->graph().nodes[i];
    const auto* q = std::get_if<QuantizeOp>(&node.op);
    if (!q) continue;
    ASSERT_LT(quantize_nodes, j["nodes"].size());
    const auto& entry = j["nodes"][quantize_nodes++];
    EXPECT_EQ(entry["name"], node.name);
    EXPECT_GT(q->scale, 0.0f) << node.name;
    EXPECT_EQ(entry["scale"].get<float>(), q->scale) << node.name;
    EXPECT_EQ(std::get<QuantizeOp>(original->graph().nodes[i].op).scale, 0.0f);
  }
  EXPECT_EQ(quantize_nodes, j["nodes"].size());
  EXPECT_GT(quantize_nodes, 0u);
  // The same seed gives the same scales; the calibrated model classifies.
  ASSERT_EQ(
      sparq("calibrate " + model + " -o " + path("random_static2.sparq") + " --random 12 --seed 3")
          .exit_code,
      0);
  EXPECT_EQ(read_file(path("random_static.sparq")), read_file(path("random_static2.sparq")));
  // Backends agree bit for bit, so the reference and the chip model give the same file.
  for (const char* backend : {"reference", "device,cpu"}) {
    ASSERT_EQ(sparq("calibrate " + model + " -o " + path("random_static3.sparq") +
                    " --random 12 --seed 3 --backend " + backend)
                  .exit_code,
              0)
        << backend;
    EXPECT_EQ(read_file(path("random_static.sparq")), read_file(path("random_static3.sparq")))
        << backend;
  }
  const Result eval = sparq("eval " + path("random_static.sparq") + " " +
                            path("tiny-images-idx3-ubyte") + " --json");
  ASSERT_EQ(eval.exit_code, 0) << eval.err;
  EXPECT_EQ(nlohmann::json::parse(eval.out)["samples"], 20);
}

TEST_F(Cli, CalibrateRefusesBadCallsMissingDataAndNonFiniteValues) {
  two_quantizer_model().save(path("two_quantizers.sparq"));
  const std::string model = path("two_quantizers.sparq");
  const std::string out = " -o " + path("never.sparq");
  expect_failure(sparq("calibrate " + model + out), 2, "exactly one of --data PATH or --random N");
  expect_failure(
      sparq("calibrate " + model + out + " --random 4 --data " + path("tiny-images-idx3-ubyte")), 2,
      "exactly one of --data PATH or --random N");
  expect_failure(sparq("calibrate " + model + out + " --random 0"), 2, "--random");
  expect_failure(sparq("calibrate " + model + out + " --random 4 --samples 2"), 2, "--samples");
  expect_failure(sparq("calibrate " + model + " --random 4"), 2, "--output");
  expect_failure(sparq("calibrate " + model + out + " --random 4 --bogus"), 2, "--bogus");
  expect_failure(sparq("calibrate " + model + out + " --data " + path("no-such-idx3-ubyte")), 3,
                 "no-such-idx3-ubyte");
  expect_failure(sparq("calibrate " + model + out + " --data " + path("notes.txt")), 4,
                 "notes.txt");
  expect_failure(sparq("calibrate " + path("missing.sparq") + out + " --random 4"), 3,
                 "missing.sparq");
  EXPECT_FALSE(fs::exists(path("never.sparq")));

  ModelBuilder b;
  b.mark_output(b.softmax(b.input({4}, DType::kF32, "x"), "probs"));
  b.build().save(path("no_quantize.sparq"));
  expect_failure(sparq("calibrate " + path("no_quantize.sparq") + out + " --random 4"), 5,
                 "has no quantize nodes");

  // std 1e-39: a 255 pixel becomes 1 / 1e-39, which is inf in f32.
  two_quantizer_model(1e-39f).save(path("overflowing_input.sparq"));
  std::vector<std::vector<uint8_t>> images(2, std::vector<uint8_t>(16, 3));
  images[1][7] = 255;
  write_tiny_idx(path("bright-images-idx3-ubyte"), images);
  expect_failure(sparq("calibrate " + path("overflowing_input.sparq") + out + " --data " +
                       path("bright-images-idx3-ubyte")),
                 4, "calibration sample 1 of");
  // std 5e-39: the input stays finite (2e38) but the model's -2x overflows.
  two_quantizer_model(5e-39f).save(path("overflowing_model.sparq"));
  expect_failure(sparq("calibrate " + path("overflowing_model.sparq") + out + " --data " +
                       path("bright-images-idx3-ubyte")),
                 5, "the input of quantize node 'q_negated' holds a NaN or infinite value");
  EXPECT_FALSE(fs::exists(path("never.sparq")));
}

// ---- inspect -------------------------------------------------------------------

TEST_F(Cli, InspectShowsEveryLayerWithDensityBytesMacsAndKernel) {
  const Result r = sparq("inspect " + path("classifier_k3.sparq"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "model: test classifier k=3"));
  EXPECT_TRUE(contains(r.out, "input: 'image' f32 [1, 28, 28]"));
  EXPECT_TRUE(contains(r.out, "classes: 10 (T-shirt/top, Trouser"));
  EXPECT_TRUE(std::regex_search(r.out, std::regex("layer +op +in +out +k +sharing +weights +packed "
                                                  "+dense s4 +fp32 +dense MACs +actual MACs")));
  // conv1: 8 x 1 kernels, k = 3 -> 24 tap bytes, 72 weights -> 36 B as dense s4, 288 B as fp32.
  EXPECT_TRUE(std::regex_search(
      r.out,
      std::regex("conv1 +sparse_conv3x3 +\\[1, 28, 28\\] +\\[8, 28, 28\\] +3 +none +72 +24 B "
                 "+36 B +288 B +56\\.4 k +18\\.8 k .*<=3\\.00x")))
      << r.out;
  for (const char* layer :
       {"quant1", "pool1", "quant2", "conv2", "pool2", "flatten", "fc", "probs", "total"}) {
    EXPECT_EQ(count_matches(r.out, std::string("\n") + layer + " "), 1) << layer;
  }
}

TEST_F(Cli, InspectJsonHasOneEntryPerNode) {
  const Result r = sparq("inspect --json " + path("classifier_k1.sparq"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["layers"].size(), 9u);
  EXPECT_EQ(j["layers"][1]["name"], "conv1");
  EXPECT_EQ(j["layers"][1]["density"], 1);
  EXPECT_EQ(j["layers"][1]["packed_bytes"], 8);
  EXPECT_EQ(j["layers"][1]["dense_macs"], 9 * j["layers"][1]["actual_macs"].get<int64_t>());
  EXPECT_GT(j["layers"][1]["predicted_speedup"].get<double>(), 0.0);
  EXPECT_EQ(j["labels"].size(), 10u);
}

// ---- run -------------------------------------------------------------------------

TEST_F(Cli, RunPrintsTheOutputOfAnImageAndOfARawTensor) {
  for (const char* input : {"shirt.png", "big.jpg", "small.pgm", "tile.bmp", "input.f32"}) {
    const Result r = sparq("run " + classifier() + " " + path(input));
    ASSERT_EQ(r.exit_code, 0) << input << ": " << r.err;
    EXPECT_TRUE(std::regex_search(r.out, std::regex("output '[^']+' f32 \\[1, 10\\]:"))) << r.out;
    EXPECT_EQ(count_matches(r.out, "-?[0-9]+\\.[0-9]{6}"), 10) << r.out;
    EXPECT_TRUE(contains(r.out, "time: "));
  }
}

TEST_F(Cli, RunJsonGivesProbabilitiesAndPerLayerStats) {
  const Result r =
      sparq("run --json --stats " + path("classifier_k9.sparq") + " " + path("shirt.png"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  const auto& values = j["outputs"][0]["values"];
  ASSERT_EQ(values.size(), 10u);
  double sum = 0;
  for (const auto& v : values) sum += v.get<double>();
  EXPECT_NEAR(sum, 1.0, 1e-4);
  EXPECT_EQ(j["layers"].size(), 9u);
}

// ---- classify --------------------------------------------------------------------

TEST_F(Cli, ClassifyPrintsTopFiveWithNamesAndPercentages) {
  const Result r =
      sparq("classify " + classifier() + " " + path("shirt.png") + " " + path("big.jpg"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, path("shirt.png") + "\n  1. "));
  EXPECT_TRUE(contains(r.out, path("big.jpg") + "\n  1. "));
  EXPECT_EQ(count_matches(r.out, "\n  [1-5]\\. [A-Za-z/ -]+ +[0-9]+\\.[0-9]{2} %"), 10) << r.out;
}

TEST_F(Cli, ClassifyJsonIsSortedAndHonoursTop) {
  const Result r = sparq("classify --json --top 3 " + classifier() + " " + path("small.pgm"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 1u);
  const auto& top = j[0]["top"];
  ASSERT_EQ(top.size(), 3u);
  EXPECT_GE(top[0]["probability"].get<double>(), top[1]["probability"].get<double>());
  EXPECT_GE(top[1]["probability"].get<double>(), top[2]["probability"].get<double>());
  EXPECT_TRUE(top[0]["label"].is_string());
}

// ---- eval --------------------------------------------------------------------------

TEST_F(Cli, EvalPrintsAccuracySpeedAndAConfusionMatrix) {
  const Result r =
      sparq("eval " + path("classifier_k3.sparq") + " " + path("tiny-images-idx3-ubyte"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(std::regex_search(r.out, std::regex("accuracy: [0-9]+\\.[0-9]{2} % \\([0-9]+/20\\)")))
      << r.out;
  EXPECT_TRUE(std::regex_search(r.out, std::regex("speed: [0-9]+ images/s \\(batch 64")));
  EXPECT_TRUE(contains(r.out, "confusion matrix:"));
  EXPECT_TRUE(std::regex_search(r.out, std::regex("truth \\\\ predicted +T-shi\\. +Trous\\.")));
  EXPECT_EQ(count_matches(r.out,
                          "\n(T-shirt/top|Trouser|Pullover|Dress|Coat|Sandal|Shirt|Sneaker|"
                          "Bag|Ankle boot) "),
            10);
}

TEST_F(Cli, EvalJsonConfusionCountsEverySample) {
  const Result r = sparq("eval --json --batch 7 " + path("classifier_k1.sparq") + " " +
                         path("tiny-images-idx3-ubyte"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["samples"], 20);
  int64_t total = 0, diagonal = 0;
  for (size_t t = 0; t < j["confusion"].size(); ++t) {
    for (size_t p = 0; p < j["confusion"][t].size(); ++p) {
      total += j["confusion"][t][p].get<int64_t>();
      if (t == p) diagonal += j["confusion"][t][p].get<int64_t>();
    }
    // Labels are n % 10, so every class has exactly two samples.
    int64_t row = 0;
    for (const auto& v : j["confusion"][t]) row += v.get<int64_t>();
    EXPECT_EQ(row, 2) << "class " << t;
  }
  EXPECT_EQ(total, 20);
  EXPECT_EQ(diagonal, j["correct"].get<int64_t>());
}

TEST_F(Cli, EvalOnTheFashionMnistTestSetWhenInstalled) {
  const std::string folder = "/usr/share/datasets/fashion-mnist";
  if (!fs::exists(folder)) GTEST_SKIP() << folder << " is not installed";
  const Result r = sparq("eval --json --limit 300 " + classifier() + " " + folder);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["samples"], 300);
  if (!shipped_model().empty()) {
    // The shipped model is trained: far above the 10 % of chance.
    EXPECT_GT(j["accuracy"].get<double>(), 0.7);
  }
}

// ---- bench -----------------------------------------------------------------------

TEST_F(Cli, BenchReportsLatencyThroughputAndLayers) {
  const Result r = sparq("bench " + path("classifier_k3.sparq") +
                         " --threads 1 --min-time 0.01 --min-runs 3 --batch 4");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(std::regex_search(
      r.out, std::regex("backend cpu, 1 thread: latency \\(batch 1\\) median [0-9.]+ [mu]?s, p90 "
                        "[0-9.]+ [mu]?s, best [0-9.]+ [mu]?s over [0-9]+ runs; throughput \\(batch "
                        "4, chunks of [0-9]+\\) [0-9]+ images/s")))
      << r.out;
  EXPECT_TRUE(std::regex_search(r.out, std::regex("layer +op +backend +kernel +median +share %")));
  EXPECT_TRUE(std::regex_search(r.out, std::regex("\nconv2 +sparse_conv3x3 +[a-z]+ ")));
  EXPECT_TRUE(contains(r.out, "summary:"));
}

TEST_F(Cli, BenchJsonHasOneEntryPerBackendAndThreadCount) {
  const Result r = sparq("bench --json " + path("classifier_k9.sparq") +
                         " --backend cpu,reference --threads 1,2 --min-time 0.005 --min-runs 2 "
                         "--batch 2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 4u);
  EXPECT_EQ(j[3]["backend"], "reference");
  EXPECT_EQ(j[3]["threads"], 2);
  EXPECT_LE(j[0]["latency"]["best_seconds"].get<double>(),
            j[0]["latency"]["median_seconds"].get<double>());
  EXPECT_EQ(j[0]["layers"].size(), 9u);
}

// Batch-1 runs over several different inputs in turn, said in the JSON and
// the text; none is a usage error.
TEST_F(Cli, BenchCyclesThroughDistinctInputs) {
  const std::string model = path("classifier_k3.sparq");
  const Result r = sparq("bench --json " + model +
                         " --threads 1 --min-time 0 --min-runs 4 --no-throughput "
                         "--no-layers --distinct-inputs 3");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto latency = nlohmann::json::parse(r.out)[0]["latency"];
  EXPECT_EQ(latency["distinct_inputs"], 3);
  EXPECT_EQ(latency["runs_seconds"].size(), 4u);
  const Result text =
      sparq("bench " + model + " --threads 1 --min-time 0 --no-throughput --distinct-inputs 3");
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_TRUE(contains(text.out, "latency (batch 1, 3 inputs in turn) median ")) << text.out;
  const Result one = sparq("bench --json " + model + " --threads 1 --min-time 0 --no-throughput");
  ASSERT_EQ(one.exit_code, 0) << one.err;
  EXPECT_EQ(nlohmann::json::parse(one.out)[0]["latency"]["distinct_inputs"], 1);
  expect_failure(sparq("bench " + model + " --distinct-inputs 0"), 2, "--distinct-inputs");
}

// With a team of threads (batch 1 on 2 threads of a network large enough for
// one), each thread's busy time: in the JSON as medians, in the text beside
// the layers; a classifier too small for a team, or one thread, has none.
TEST_F(Cli, BenchShowsEachThreadsBusyTimeOnTwoThreads) {
  const Result r = sparq("bench --json " + path("resnet18_112.sparq") +
                         " --threads 1,2 --min-time 0 --min-runs 2 --no-throughput");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 2u);
  EXPECT_FALSE(j[0].contains("thread_busy_median_seconds"));
  const auto busy = j[1]["thread_busy_median_seconds"].get<std::vector<double>>();
  ASSERT_EQ(busy.size(), 2u);
  EXPECT_GT(busy[0], 0.0);
  EXPECT_GE(busy[1], 0.0);
  const Result text = sparq("bench " + path("resnet18_112.sparq") +
                            " --threads 2 --min-time 0 --min-runs 2 --no-throughput");
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_TRUE(std::regex_search(
      text.out, std::regex("busy inside parallel regions, median per run: thread 0 [0-9.]+ [mu]?s, "
                           "thread 1 [0-9.]+ [mu]?s \\(summed layer medians [0-9.]+ [mu]?s\\)")))
      << text.out;
  const Result small = sparq("bench --json " + path("classifier_k3.sparq") +
                             " --threads 2 --min-time 0 --min-runs 2 --no-throughput");
  ASSERT_EQ(small.exit_code, 0) << small.err;
  EXPECT_FALSE(nlohmann::json::parse(small.out)[0].contains("thread_busy_median_seconds"));
}

// A driver that interleaves runtimes measures batch 1 and batch N in separate
// calls, and pools the runs of several calls: each part can be skipped, and
// the JSON lists every run.
TEST_F(Cli, BenchMeasuresOnlyWhatItIsAskedAndListsEveryRun) {
  const std::string model = path("classifier_k3.sparq");
  const Result batch_only = sparq("bench --json " + model +
                                  " --threads 1 --min-time 0 --batch 3 --batch-min-runs 4 "
                                  "--no-latency");
  ASSERT_EQ(batch_only.exit_code, 0) << batch_only.err;
  const auto b = nlohmann::json::parse(batch_only.out)[0];
  EXPECT_FALSE(b.contains("latency"));
  EXPECT_TRUE(b["layers"].empty());
  const auto& throughput = b["throughput"];
  EXPECT_EQ(throughput["batch"], 3);
  const auto runs = throughput["runs_seconds"].get<std::vector<double>>();
  ASSERT_EQ(runs.size(), 4u);  // --min-time 0: exactly the runs asked for
  EXPECT_EQ(throughput["runs"], 4);
  EXPECT_EQ(throughput["best_seconds"].get<double>(), *std::min_element(runs.begin(), runs.end()));

  const Result single_only =
      sparq("bench --json " + model + " --threads 1 --min-time 0 --min-runs 5 --no-throughput");
  ASSERT_EQ(single_only.exit_code, 0) << single_only.err;
  const auto s = nlohmann::json::parse(single_only.out)[0];
  EXPECT_FALSE(s.contains("throughput"));
  EXPECT_EQ(s["latency"]["runs_seconds"].size(), 5u);
  EXPECT_FALSE(s["layers"].empty());

  const Result text = sparq("bench " + model + " --threads 1 --min-time 0 --no-latency");
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_TRUE(contains(text.out, "throughput (batch 32, chunks of ")) << text.out;
  EXPECT_FALSE(contains(text.out, "latency")) << text.out;

  expect_failure(sparq("bench " + model + " --no-latency --no-throughput"), 2,
                 "nothing to measure");
}

TEST_F(Cli, BenchRunsTheBatchInTheChunksAsked) {
  const Result r = sparq("bench --json " + path("classifier_k3.sparq") +
                         " --threads 1 --min-time 0.005 --min-runs 2 --batch 5 --batch-chunk 2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j[0]["throughput"]["batch_chunk"], 2);
  EXPECT_LE(j[0]["throughput"]["best_seconds"].get<double>(),
            j[0]["throughput"]["median_seconds"].get<double>());
  const Result bad = sparq("bench " + path("classifier_k3.sparq") + " --batch-chunk -1");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_TRUE(contains(bad.err, "--batch-chunk")) << bad.err;
}

// ---- simulate --------------------------------------------------------------------

TEST_F(Cli, SimulateReportsEveryLayer) {
  const Result r = sparq("simulate " + classifier());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "conv1") || !shipped_model().empty()) << r.out;
  const Result j = sparq("simulate --json --point efficient " + path("classifier_k1.sparq"));
  ASSERT_EQ(j.exit_code, 0) << j.err;
  const auto report = nlohmann::json::parse(j.out);
  EXPECT_FALSE(report.empty());
}

TEST_F(Cli, SimulateReadsTheConfigItPrints) {
  const Result config = sparq("simulate --print-config");
  ASSERT_EQ(config.exit_code, 0) << config.err;
  std::ofstream(dir_ / "chip.json") << config.out;
  const Result r =
      sparq("simulate --config " + path("chip.json") + " " + path("classifier_k3.sparq"));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  expect_failure(
      sparq("simulate --config " + path("absent.json") + " " + path("classifier_k3.sparq")), 3,
      "absent.json");
}

TEST_F(Cli, DeviceBackendShowsTheChipNextToTheHostTime) {
  const std::string model = path("classifier_k3.sparq");
  const std::string device = " --backend device,cpu ";
  const std::regex chip_line(
      "chip \\(device model, per [a-z0-9 -]+\\): latency [0-9.]+ ms, [0-9]+ cycles, energy "
      "[0-9.]+ uJ \\(chip \\+ off-chip interface\\), [0-9.]+ dense-equivalent TOPS/W; host "
      "emulation [0-9.]+ ms");
  for (const std::string& command :
       {"run" + device + model + " " + path("shirt.png"),
        "classify" + device + model + " " + path("shirt.png"),
        "eval" + device + model + " " + path("tiny-images-idx3-ubyte"),
        "bench" + device + model + " --threads 1 --min-time 0.01 --min-runs 2 --batch 2"}) {
    const Result r = sparq(command);
    ASSERT_EQ(r.exit_code, 0) << command << "\n" << r.err;
    EXPECT_TRUE(std::regex_search(r.out, chip_line)) << command << "\n" << r.out;
  }
  // On the host alone there is no chip to report.
  const Result host = sparq("run --backend cpu " + model + " " + path("shirt.png"));
  ASSERT_EQ(host.exit_code, 0) << host.err;
  EXPECT_FALSE(contains(host.out, "chip (device model")) << host.out;
  const Result host_json = sparq("run --json --backend cpu " + model + " " + path("shirt.png"));
  EXPECT_FALSE(nlohmann::json::parse(host_json.out).contains("device"));
  // The figures a device run reports are the chip model's for the same
  // model and batch: simulate's total, transfers included.
  const Result run = sparq("run --json" + device + model + " " + path("shirt.png"));
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const auto chip = nlohmann::json::parse(run.out).at("device");
  const auto report = nlohmann::json::parse(sparq("simulate --json " + model).out);
  const auto& total = report.at("total");
  EXPECT_NEAR(chip.at("energy_joules").get<double>(),
              total.at("energy").at("total_joules").get<double>(),
              1e-9 * total.at("energy").at("total_joules").get<double>());
  EXPECT_NEAR(chip.at("modelled_seconds").get<double>(), total.at("seconds").get<double>(),
              1e-9 * total.at("seconds").get<double>());
  EXPECT_NEAR(chip.at("dense_tops_per_watt").get<double>(),
              total.at("dense_tops_per_watt_with_offchip").get<double>(),
              1e-6 * total.at("dense_tops_per_watt_with_offchip").get<double>());
  EXPECT_TRUE(chip.at("energy_includes_offchip").get<bool>());
  const auto eval = nlohmann::json::parse(
      sparq("eval --json" + device + model + " " + path("tiny-images-idx3-ubyte")).out);
  EXPECT_EQ(eval.at("device").at("per"), "image");
  const auto classify = nlohmann::json::parse(
      sparq("classify --json" + device + model + " " + path("shirt.png")).out);
  EXPECT_TRUE(classify.back().contains("device"));
}

TEST_F(Cli, SimulateSensitivityTableMovesWithEachConstant) {
  const Result r = sparq("simulate --sensitivity " + path("classifier_k1.sparq"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "leakage_watts_per_mm2")) << r.out;
  EXPECT_TRUE(contains(r.out, "register_joules_per_bit")) << r.out;
  const Result j = sparq("simulate --sensitivity --json " + path("classifier_k1.sparq"));
  ASSERT_EQ(j.exit_code, 0) << j.err;
  const auto rows = nlohmann::json::parse(j.out);
  ASSERT_GE(rows.size(), 8u);
  EXPECT_EQ(rows[0]["constant"], "defaults");
  EXPECT_NEAR(rows[0]["at_low"]["overhead_factor"].get<double>(), DeviceConfig{}.overhead_factor,
              0.005);
  for (size_t i = 1; i < rows.size(); ++i) {
    const auto& row = rows[i];
    EXPECT_LT(row["low"].get<double>(), row["high"].get<double>()) << row["constant"];
    // Every constant moves the refitted factor or a predicted figure.
    const bool moves = row["at_low"] != row["at_high"];
    EXPECT_TRUE(moves) << row["constant"];
  }
}

TEST_F(Cli, EditedConfigOffItsCalibrationIsWarnedAbout) {
  const Result printed = sparq("simulate --print-config");
  ASSERT_EQ(printed.exit_code, 0) << printed.err;
  std::ofstream(dir_ / "calibrated.json") << printed.out;
  const Result quiet =
      sparq("simulate --config " + path("calibrated.json") + " " + path("classifier_k1.sparq"));
  ASSERT_EQ(quiet.exit_code, 0) << quiet.err;
  EXPECT_FALSE(contains(quiet.err, "warning")) << quiet.err;
  // Doubling the register energy without refitting the factor moves the
  // calibration point: the run goes on, with a warning naming the file.
  auto edited = nlohmann::json::parse(printed.out);
  edited["register_joules_per_bit"] = 2 * edited["register_joules_per_bit"].get<double>();
  std::ofstream(dir_ / "edited.json") << edited.dump();
  const Result warned =
      sparq("simulate --config " + path("edited.json") + " " + path("classifier_k1.sparq"));
  ASSERT_EQ(warned.exit_code, 0) << warned.err;
  EXPECT_TRUE(contains(warned.err, "warning")) << warned.err;
  EXPECT_TRUE(contains(warned.err, "edited.json")) << warned.err;
  EXPECT_TRUE(contains(warned.err, "352 mW")) << warned.err;
}

// ---- sweep -----------------------------------------------------------------------

// What sweep's SVG draws, read back tolerantly: per panel (each panel is one
// <g> group) its frame and its markers, plus every series line.
struct SvgMarker {
  double x = 0, y = 0;
  double reach = 0;  // the farthest the drawn shape goes from its centre
  int series = -1;
  std::string fill;
  std::string shape;  // "circle" or the path's outline
};
struct SvgPanel {
  double x = 0, y = 0, width = 0, height = 0;
  bool has_frame = false;
  std::vector<SvgMarker> markers;
};
struct SvgPolyline {
  int series = -1;  // -1: the line names no series
  int points = 0;
};

std::string attribute(const std::string& element, const std::string& name) {
  std::smatch m;
  const std::regex re("\\s" + name + "=\"([^\"]*)\"");
  return std::regex_search(element, m, re) ? m[1].str() : "";
}
double number_attribute(const std::string& element, const std::string& name) {
  const std::string v = attribute(element, name);
  return v.empty() ? NAN : std::stod(v);
}
std::vector<std::string> elements(const std::string& text, const std::string& tag) {
  std::vector<std::string> found;
  const std::regex re("<" + tag + "\\s[^>]*>");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), re); it != std::sregex_iterator();
       ++it) {
    found.push_back(it->str());
  }
  return found;
}

std::vector<SvgPanel> svg_panels(const std::string& svg) {
  std::vector<SvgPanel> panels;
  for (size_t at = svg.find("<g "); at != std::string::npos; at = svg.find("<g ", at + 1)) {
    const std::string group = svg.substr(at, svg.find("</g>", at) - at);
    SvgPanel panel;
    // Inside a panel's group the one rect is its frame and every circle or
    // path a data marker (the legend lies outside the groups).
    for (const auto& rect : elements(group, "rect")) {
      panel.has_frame = true;
      panel.x = number_attribute(rect, "x"), panel.y = number_attribute(rect, "y");
      panel.width = number_attribute(rect, "width");
      panel.height = number_attribute(rect, "height");
    }
    for (const auto& circle : elements(group, "circle")) {
      panel.markers.push_back({number_attribute(circle, "cx"), number_attribute(circle, "cy"),
                               number_attribute(circle, "r"),
                               attribute(circle, "data-series").empty()
                                   ? -1
                                   : std::stoi(attribute(circle, "data-series")),
                               attribute(circle, "fill"), "circle"});
    }
    for (const auto& path : elements(group, "path")) {
      // d="M cx cy m dx dy l ...": the centre, then the outline around it.
      std::istringstream d(attribute(path, "d"));
      std::string move;
      SvgMarker marker;
      d >> move >> marker.x >> marker.y;
      std::string rest;
      std::getline(d, rest);
      marker.shape = rest;
      marker.reach = 6;  // the outlines stay within 5 units of the centre
      marker.series = std::stoi(attribute(path, "data-series"));
      marker.fill = attribute(path, "fill");
      panel.markers.push_back(marker);
    }
    panels.push_back(panel);
  }
  return panels;
}

std::vector<SvgPolyline> svg_polylines(const std::string& svg) {
  std::vector<SvgPolyline> lines;
  for (const auto& line : elements(svg, "polyline")) {
    const std::string series = attribute(line, "data-series");
    std::istringstream points(attribute(line, "points"));
    std::string point;
    int count = 0;
    while (points >> point) ++count;
    lines.push_back({series.empty() ? -1 : std::stoi(series), count});
  }
  return lines;
}

// Every marker wholly inside its panel's frame, not on its edge.
void expect_markers_inside_frames(const std::vector<SvgPanel>& panels) {
  for (size_t p = 0; p < panels.size(); ++p) {
    const SvgPanel& f = panels[p];
    ASSERT_TRUE(f.has_frame) << "panel " << p << " has no frame";
    for (const SvgMarker& m : f.markers) {
      EXPECT_GT(m.x - m.reach, f.x) << "panel " << p;
      EXPECT_LT(m.x + m.reach, f.x + f.width) << "panel " << p;
      EXPECT_GT(m.y - m.reach, f.y) << "panel " << p;
      EXPECT_LT(m.y + m.reach, f.y + f.height) << "panel " << p;
    }
  }
}

TEST_F(Cli, SweepTabulatesEachDensityAndPlotsThem) {
  const Result r =
      sparq("sweep " + path("classifier_k1.sparq") + " " + path("classifier_k9.sparq") + " " +
            path("classifier_k3.sparq") + " --dataset " + path("tiny-images-idx3-ubyte") +
            " --min-runs 2 --svg " + path("sweep.svg"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.out,
                       "| k | model | variant | actual MACs | accuracy % | CPU latency (ms) | "
                       "device cycles | device time (us) | device energy* (uJ) | "
                       "dense-eq. TOPS/W* |"));
  // The starred columns say which energy they both count.
  EXPECT_TRUE(contains(r.out, "* device energy and dense-eq. TOPS/W both count the chip"));
  EXPECT_TRUE(contains(r.out, "and its off-chip traffic"));
  // Rows sorted by k, densest first.
  const size_t k9 = r.out.find("\n| 9 |"), k3 = r.out.find("\n| 3 |"), k1 = r.out.find("\n| 1 |");
  ASSERT_NE(k9, std::string::npos);
  ASSERT_NE(k3, std::string::npos);
  ASSERT_NE(k1, std::string::npos);
  EXPECT_LT(k9, k3);
  EXPECT_LT(k3, k1);
  const std::string svg = read_file(dir_ / "sweep.svg");
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_EQ(count_matches(svg, "class=\"marker\""), 6);  // 3 densities x 2 panels
  EXPECT_EQ(count_matches(svg, ">k=9<"), 2);
}

// Two variants of one network (classifier_k1_a4 reads 4-bit activations):
// one series each, in their own colour and marker, lines only within a
// series, and the two k = 1 points labelled by their files.
TEST_F(Cli, SweepPlotDrawsOneSeriesPerVariantInsideItsFrames) {
  const std::string svg_path = path("variants.svg");
  const Result r =
      sparq("sweep " + path("classifier_k9.sparq") + " " + path("classifier_k1_a4.sparq") + " " +
            path("classifier_k3.sparq") + " " + path("classifier_k1.sparq") + " --dataset " +
            path("tiny-images-idx3-ubyte") + " --min-runs 2 --svg " + svg_path);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string svg = read_file(svg_path);
  const std::vector<SvgPanel> panels = svg_panels(svg);
  ASSERT_EQ(panels.size(), 2u);
  expect_markers_inside_frames(panels);
  std::map<int, std::pair<std::string, std::string>> style;  // series -> (fill, shape)
  for (const SvgPanel& panel : panels) {
    EXPECT_EQ(panel.markers.size(), 4u);  // one per model
    int a8 = 0, a4 = 0;
    for (const SvgMarker& m : panel.markers) {
      ASSERT_GE(m.series, 0);
      (m.series == 0 ? a8 : a4)++;
      const auto [it, added] = style.insert({m.series, {m.fill, m.shape}});
      EXPECT_EQ(it->second, std::make_pair(m.fill, m.shape)) << "series " << m.series;
    }
    EXPECT_EQ(a8, 3);  // k = 9, 3, 1
    EXPECT_EQ(a4, 1);
  }
  ASSERT_EQ(style.size(), 2u);
  EXPECT_NE(style[0].first, style[1].first);    // colours differ
  EXPECT_NE(style[0].second, style[1].second);  // and so do the marker shapes
  // The a8 series' line through k = 9, 3, 1 in each panel; none through the
  // lone a4 point, none across series.
  const std::vector<SvgPolyline> lines = svg_polylines(svg);
  ASSERT_EQ(lines.size(), 2u);
  for (const SvgPolyline& line : lines) {
    EXPECT_EQ(line.series, 0);
    EXPECT_EQ(line.points, 3);
  }
  // The legend names both variants; no label is shared by two points.
  EXPECT_TRUE(contains(svg, ">a8, per-kernel patterns<"));
  EXPECT_TRUE(contains(svg, ">a4+a8, per-kernel patterns<"));
  EXPECT_EQ(count_matches(svg, ">k=1<"), 0);
  EXPECT_EQ(count_matches(svg, ">classifier_k1 \\(k=1\\)<"), 2);
  EXPECT_EQ(count_matches(svg, ">classifier_k1_a4 \\(k=1\\)<"), 2);
  EXPECT_EQ(count_matches(svg, ">k=9<"), 2);
}

// One model twice: every x and y of the energy panel equal (and the
// accuracies equal in both): the axes still open around the points.
TEST_F(Cli, SweepPlotOfEqualPointsStaysInsideItsFrames) {
  const std::string svg_path = path("equal.svg");
  const Result r = sparq(
      "sweep " + path("classifier_k3.sparq") + " " + path("classifier_k3.sparq") + " --dataset " +
      path("tiny-images-idx3-ubyte") + " --limit 4 --min-runs 1 --svg " + svg_path);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::vector<SvgPanel> panels = svg_panels(read_file(svg_path));
  ASSERT_EQ(panels.size(), 2u);
  expect_markers_inside_frames(panels);
  for (const SvgPanel& panel : panels) EXPECT_EQ(panel.markers.size(), 2u);
}

TEST_F(Cli, SweepTakesTheClockOfSimulate) {
  const std::string model = path("classifier_k3.sparq");
  const Result nominal = sparq("sweep --json --min-runs 1 " + model);
  const Result efficient = sparq("sweep --json --min-runs 1 --point efficient " + model);
  const Result volts = sparq("sweep --json --min-runs 1 --volts 0.8 " + model);
  ASSERT_EQ(nominal.exit_code, 0) << nominal.err;
  ASSERT_EQ(efficient.exit_code, 0) << efficient.err;
  ASSERT_EQ(volts.exit_code, 0) << volts.err;
  const auto n = nlohmann::json::parse(nominal.out)[0], e = nlohmann::json::parse(efficient.out)[0],
             v = nlohmann::json::parse(volts.out)[0];
  // A slower clock at the efficient point, and less chip energy at its lower voltage.
  EXPECT_GT(e["device_seconds"].get<double>(), n["device_seconds"].get<double>());
  EXPECT_LT(e["device_chip_energy_joules"].get<double>(),
            n["device_chip_energy_joules"].get<double>());
  EXPECT_DOUBLE_EQ(v["device_seconds"].get<double>(), e["device_seconds"].get<double>());
  // Both TOPS/W figures count the same dense MACs over their own energy.
  const double chip = n["device_chip_energy_joules"], total = n["device_energy_joules"];
  EXPECT_GT(n["device_offchip_energy_joules"].get<double>(), 0.0);
  EXPECT_NEAR(total, chip + n["device_offchip_energy_joules"].get<double>(), 1e-12 * total);
  EXPECT_NEAR(n["device_dense_tops_per_watt"].get<double>() * chip,
              n["device_dense_tops_per_watt_with_offchip"].get<double>() * total,
              1e-9 * n["device_dense_tops_per_watt"].get<double>() * chip);
  expect_failure(sparq("sweep --point nowhere " + model), 2, "--point");
  expect_failure(sparq("sweep --point efficient --volts 0.9 " + model), 2, "give one");
}

TEST_F(Cli, SweepShowsProgressOnlyWhenAsked) {
  const std::string args =
      "sweep --min-runs 1 " + path("classifier_k9.sparq") + " " + path("classifier_k1.sparq");
  const Result quiet = sparq(args);  // stderr is a file here, not a terminal
  ASSERT_EQ(quiet.exit_code, 0) << quiet.err;
  EXPECT_FALSE(contains(quiet.err, "sweep ["));
  const Result shown = sparq(args + " --progress");
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  EXPECT_TRUE(contains(shown.err, "sweep [")) << shown.err;
  EXPECT_TRUE(contains(shown.err, " 6/6 ")) << shown.err;  // 3 steps x 2 models
}

TEST_F(Cli, SweepJsonHasFallingMacsAndCycles) {
  const Result r = sparq("sweep --json --min-runs 2 " + path("classifier_k9.sparq") + " " +
                         path("classifier_k1.sparq"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[0]["density"], 9);
  EXPECT_GT(j[0]["actual_macs"].get<int64_t>(), j[1]["actual_macs"].get<int64_t>());
  EXPECT_GT(j[0]["device_cycles"].get<int64_t>(), j[1]["device_cycles"].get<int64_t>());
  EXPECT_TRUE(j[0]["accuracy"].is_null());  // random test models record none
}

TEST_F(Cli, SweepRefusesModelsOfAnotherNetwork) {
  expect_failure(sparq("sweep " + path("classifier_k3.sparq") + " " + path("features.sparq")), 5,
                 "is not the network of");
  expect_failure(
      sparq("sweep --min-runs 1 --svg " + path("x.svg") + " " + path("classifier_k3.sparq")), 2,
      "--svg needs an accuracy");
}

// ---- train / prune / study -------------------------------------------------------

TEST_F(Cli, TrainingCommandsAreForwardedUntouched) {
  const Result r = sparq("train --epochs 3 --help", "SPARQ_TRAIN=/bin/echo");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "train --epochs 3 --help\n");
  const Result study = sparq("study", "SPARQ_TRAIN=/bin/echo");
  EXPECT_EQ(study.out, "study\n");
}

TEST_F(Cli, TrainingCommandsSayWhenSparqTrainIsMissing) {
  if (fs::exists(fs::path(SPARQ_CLI).parent_path().parent_path() / "training" / "sparq-train")) {
    GTEST_SKIP() << "sparq-train is built here";
  }
  expect_failure(sparq("prune model.sparq"), 6,
                 "needs the sparq-train executable, which was not built");
}

// ---- bad input -------------------------------------------------------------------

TEST_F(Cli, MissingFilesExitWithThree) {
  expect_failure(sparq("inspect " + path("absent.sparq")), 3, "absent.sparq");
  expect_failure(sparq("classify " + classifier() + " " + path("absent.png")), 3,
                 "cannot open image '" + path("absent.png") + "'");
  expect_failure(sparq("eval " + classifier() + " " + path("absent-images-idx3-ubyte")), 3,
                 "absent-images-idx3-ubyte");
  expect_failure(sparq("classify " + classifier() + " " + dir_.string()), 3, "is a directory");
}

TEST_F(Cli, BadImagesAndTensorsExitWithFour) {
  expect_failure(sparq("classify " + classifier() + " " + path("notes.txt")), 4,
                 "image '" + path("notes.txt") + "': not a supported image");
  expect_failure(sparq("classify " + classifier() + " " + path("truncated.png")), 4,
                 "PNG ends before its IEND chunk");
  expect_failure(sparq("run " + classifier() + " " + path("truncated.jpg")), 4,
                 "JPEG ends before its end-of-image marker");
  expect_failure(sparq("classify " + classifier() + " " + path("empty.png")), 4,
                 "the file is empty");
  expect_failure(sparq("run " + classifier() + " " + path("short.f32")), 4,
                 "has 3132 bytes; the model input [1, 28, 28] needs a multiple of 3136");
  // A dataset of 28x28 images against labels of another count.
  expect_failure(sparq("eval " + classifier() + " " + path("tiny-images-idx3-ubyte") +
                       " --labels " + path("tiny-images-idx3-ubyte")),
                 4, "tiny-images-idx3-ubyte");
}

TEST_F(Cli, ModelsOfTheWrongKindExitWithFive) {
  expect_failure(sparq("classify " + path("features.sparq") + " " + path("shirt.png")), 5,
                 "is not a classifier: its output 'conv' is f32 [8, 28, 28]");
  expect_failure(sparq("classify " + path("vector.sparq") + " " + path("shirt.png")), 5,
                 "has shape [784]; an image model takes [C, H, W]");
  expect_failure(sparq("eval " + path("features.sparq") + " " + path("tiny-images-idx3-ubyte")), 5,
                 "is not a classifier");
  const Result corrupt = sparq("inspect " + path("corrupt.sparq"));
  EXPECT_EQ(corrupt.exit_code, 5) << corrupt.err;
  EXPECT_TRUE(contains(corrupt.err, "invalid model")) << corrupt.err;
  expect_failure(sparq("classify " + path("shirt.png") + " " + path("shirt.png")), 5, "");
}

TEST_F(Cli, DatasetsWithoutLabelsAskForThem) {
  expect_failure(sparq("eval " + classifier() + " " + path("lonely-images-idx3-ubyte")), 2,
                 "pass the idx1 label file with --labels");
}

// ---- hostile inputs (issue #19): small files that once took the machine ------------
// Each runs under an address-space cap (memory_capped) and must end in its
// documented exit code with a message naming the problem.

TEST_F(Cli, AWideWindowIsRefusedBeforeRunningOnEveryBackend) {
  for (const char* backend : {"cpu", "reference"}) {
    expect_failure(sparq(std::string("run --backend ") + backend + " " + path("wide_pool.sparq") +
                             " " + path("input.f32"),
                         memory_capped()),
                   5, "node 'pool' (max_pool2d)");
  }
  expect_failure(sparq("run " + path("wide_pool.sparq") + " " + path("input.f32"), memory_capped()),
                 5, "more than the operation limit");
  expect_failure(
      sparq("run " + path("huge_window.sparq") + " " + path("input.f32"), memory_capped()), 5,
      "node 'pool' (avg_pool2d)");
  // The device model's 64-bit cycle arithmetic would overflow on it too.
  expect_failure(sparq("simulate " + path("huge_window.sparq"), memory_capped()), 5,
                 "more than 2^63 operations per sample");
}

TEST_F(Cli, AnInputTooLargeForTheMemoryLimitIsRefusedBeforeReadingIt) {
  expect_failure(sparq("run " + path("big_input.sparq") + " " + path("input.f32"), memory_capped()),
                 5, "graph input 'image' [1, 46340, 46340] needs 8.00 GiB");
  // --max-memory lowers the limit: the small classifier needs well under
  // 1 MiB, and not under 1 KiB.
  EXPECT_EQ(sparq("run --max-memory 1M " + classifier() + " " + path("shirt.png")).exit_code, 0);
  expect_failure(sparq("run --max-memory 1K " + classifier() + " " + path("shirt.png")), 5,
                 "more than the memory limit 0.00 GiB (1024 bytes)");
  expect_failure(sparq("run --max-memory lots " + classifier() + " " + path("shirt.png")), 2,
                 "--max-memory");
}

TEST_F(Cli, ClassifyRefusesBillionsOfClasses) {
  expect_failure(
      sparq("classify " + path("many_classes.sparq") + " " + path("shirt.png"), memory_capped()), 5,
      "has 2147483647 classes; classify and eval handle at most 4096");
}

TEST_F(Cli, IdxHeadersThatPromiseGigabytesAreCheckedAgainstTheFile) {
  expect_failure(
      sparq("eval " + classifier() + " " + path("huge-images-idx3-ubyte"), memory_capped()), 4,
      "is truncated: its header declares the pixels of 5000000 images (3920000000 bytes), the "
      "file has only 0");
  // gzip: the size is unknown until decompressed; reading stops at the end
  // of the data, having allocated no more than arrived.
  expect_failure(
      sparq("eval " + classifier() + " " + path("hugegz-images-idx3-ubyte.gz"), memory_capped()), 4,
      "is truncated: the pixels of 5000000 images needs 3920000000 bytes, only 1000 remain");
}

TEST_F(Cli, ImagesAreReadOnlyFromRegularFiles) {
  expect_failure(sparq("classify " + classifier() + " /dev/zero", memory_capped()), 3,
                 "'/dev/zero' is not a regular file");
  const std::string fifo = path("pipe.png");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  // `timeout` turns the old behaviour (blocking forever) into exit 124.
  expect_failure(sparq("classify " + classifier() + " " + fifo, "timeout 60"), 3,
                 "is not a regular file");
  fs::remove(fifo);
}

TEST_F(Cli, AnImageDeclaringTooManyPixelsIsRefusedBeforeDecoding) {
  expect_failure(sparq("classify " + classifier() + " " + path("huge.png"), memory_capped()), 4,
                 "16384x16384 is 268435456 pixels, more than the limit of 67108864");
}

TEST_F(Cli, TopDownBmpsReadLikeBottomUpOnes) {
  const Result top = sparq("run --json " + classifier() + " " + path("topdown.bmp"));
  const Result bottom = sparq("run --json " + classifier() + " " + path("bottomup.bmp"));
  ASSERT_EQ(top.exit_code, 0) << top.err;
  ASSERT_EQ(bottom.exit_code, 0) << bottom.err;
  EXPECT_EQ(nlohmann::json::parse(top.out)["outputs"],
            nlohmann::json::parse(bottom.out)["outputs"]);
}

TEST_F(Cli, AbsurdWeightScalesAreRefusedAtLoad) {
  expect_failure(sparq("classify " + path("huge_scales.sparq") + " " + path("shirt.png")), 5,
                 "node 'conv1': weight_scales[0] is 3e+38");
}

TEST_F(Cli, NonFiniteScoresAreAnErrorNeverAnAccuracy) {
  const Result classify =
      sparq("classify " + path("nan_classifier.sparq") + " " + path("shirt.png"));
  expect_failure(classify, 5, "non-finite score");
  EXPECT_FALSE(contains(classify.out, "nan")) << classify.out;
  const Result eval =
      sparq("eval " + path("nan_classifier.sparq") + " " + path("tiny-images-idx3-ubyte"));
  expect_failure(eval, 5, "sample 0 of");
  EXPECT_FALSE(contains(eval.out, "accuracy")) << eval.out;
}

TEST_F(Cli, GraphOutputsMustBeNodeResultsListedOnce) {
  expect_failure(sparq("run " + path("output_is_input.sparq") + " " + path("shirt.png")), 5,
                 "graph output 'image' is the graph input");
  expect_failure(sparq("run " + path("output_twice.sparq") + " " + path("shirt.png")), 5,
                 "graph output 'probs' is listed twice");
}

TEST_F(Cli, AFlippedBitIsAnErrorAndUncheckedFilesAreNamed) {
  expect_failure(sparq("run " + path("flipped.sparq") + " " + path("shirt.png")), 5,
                 "model file is damaged: its checksum is");
  const Result unchecked = sparq("inspect " + path("unchecked.sparq"));
  ASSERT_EQ(unchecked.exit_code, 0) << unchecked.err;
  EXPECT_TRUE(contains(unchecked.out, "checksum: none (written before")) << unchecked.out;
  const Result sealed = sparq("inspect " + path("classifier_k3.sparq"));
  EXPECT_TRUE(contains(sealed.out, "checksum: verified")) << sealed.out;
}

TEST_F(Cli, JsonSurvivesLabelsAndFileNamesThatAreNotUtf8) {
  const std::string odd_name = path("shirt\xff.png");
  fs::copy_file(path("shirt.png"), dir_ / "shirt\xff.png");
  for (const std::string& args :
       {"classify --json " + path("bad_utf8_label.sparq") + " " + path("shirt.png"),
        "classify --json " + classifier() + " " + odd_name,
        "inspect --json " + path("bad_utf8_label.sparq"),
        "eval --json " + path("bad_utf8_label.sparq") + " " + path("tiny-images-idx3-ubyte")}) {
    const Result r = sparq(args);
    ASSERT_EQ(r.exit_code, 0) << args << ": " << r.err;
    EXPECT_TRUE(nlohmann::json::accept(r.out)) << args;
    EXPECT_TRUE(contains(r.out, "\xef\xbf\xbd")) << args;  // U+FFFD in UTF-8
  }
}

TEST_F(Cli, AWriteErrorOnStdoutExitsWithThree) {
  const std::string run = "'" SPARQ_CLI "' inspect " + classifier();
  expect_failure(shell(run + " >/dev/full"), 3, "cannot write the results to standard output");
  expect_failure(shell(run + " >&-"), 3, "cannot write the results to standard output");
  expect_failure(shell("'" SPARQ_CLI "' classify --json " + classifier() + " " + path("shirt.png") +
                       " >/dev/full"),
                 3, "standard output");
}

// A model saved after fold_static_quantize: inspect shows each fused
// layer's output format and scale, and its CPU kernel writing u8.
TEST_F(Cli, InspectShowsALayerFusedWithItsStaticQuantize) {
  const Model fused = make_fused_features();
  ASSERT_EQ(fused.graph().nodes.size(), 4u);  // quant2 folded into conv1
  fused.save(path("fused.sparq"));

  const Result text = sparq("inspect " + path("fused.sparq"));
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_TRUE(contains(text.out, "-> u8 s=0.0625")) << text.out;
  EXPECT_TRUE(contains(text.out, "_to_u8")) << text.out;
  const Result json = sparq("inspect --json " + path("fused.sparq"));
  ASSERT_EQ(json.exit_code, 0) << json.err;
  const auto layers = nlohmann::json::parse(json.out)["layers"];
  ASSERT_EQ(layers.size(), 4u);  // quant1, conv1 (fused), conv2, pool
  EXPECT_EQ(layers[1]["name"], "conv1");
  EXPECT_EQ(layers[1]["activation_scale"].get<float>(), 0.0625f);
  EXPECT_TRUE(contains(layers[1]["quantization"].get<std::string>(), "-> u8"));

  // It runs: the fused layer is one step under its own name.
  const Result run = sparq("run --json --stats " + path("fused.sparq") + " " + path("shirt.png"));
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const auto steps = nlohmann::json::parse(run.out)["layers"];
  ASSERT_EQ(steps.size(), 4u);
  EXPECT_EQ(steps[1]["name"], "conv1");
  EXPECT_TRUE(contains(steps[1]["kernel"].get<std::string>(), "_to_u8")) << steps[1];
}

}  // namespace
}  // namespace sparq::cli_test
