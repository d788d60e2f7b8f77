// Malformed and adversarial ONNX files, built in code from a fixture or from
// scratch: each import fails with sparq::Error of the right code (malformed:
// kInvalidModel, CLI exit 5; unsupported: kUnsupported, exit 6) and a message
// naming the node and operator; never a crash or a silently different model.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include "sparq/onnx_import.hpp"
#include "sparq/sparq.hpp"

namespace sparq {
namespace {

namespace onnx = ::ONNX_NAMESPACE;

const std::string kSmallCnn = std::string(SPARQ_ONNX_FIXTURES) + "/small_cnn_op13.onnx";

std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

onnx::ModelProto small_cnn() {
  onnx::ModelProto m;
  EXPECT_TRUE(m.ParseFromString(read_bytes(kSmallCnn)));
  return m;
}

onnx::NodeProto* find_node(onnx::ModelProto& m, const std::string& op) {
  for (auto& n : *m.mutable_graph()->mutable_node()) {
    if (n.op_type() == op) return &n;
  }
  ADD_FAILURE() << "no " << op << " node";
  return nullptr;
}

onnx::TensorProto* find_initializer(onnx::ModelProto& m, const std::string& input_of) {
  const std::string name = find_node(m, input_of)->input(1);
  for (auto& t : *m.mutable_graph()->mutable_initializer()) {
    if (t.name() == name) return &t;
  }
  ADD_FAILURE() << "no initializer " << name;
  return nullptr;
}

std::vector<uint8_t> bytes_of(const onnx::ModelProto& m) {
  std::string s;
  EXPECT_TRUE(m.SerializeToString(&s));
  return {s.begin(), s.end()};
}

struct Case {
  std::string name;
  std::function<std::vector<uint8_t>()> bytes;
  ErrorCode code;
  std::string message;  // a part the message must contain
};

std::vector<Case> cases() {
  auto edit = [](std::function<void(onnx::ModelProto&)> change) {
    return [change] {
      onnx::ModelProto m = small_cnn();
      change(m);
      return bytes_of(m);
    };
  };
  const auto bad = ErrorCode::kInvalidModel;
  const auto unsupported = ErrorCode::kUnsupported;
  return {
      {"Truncated",
       [] {
         const std::string s = read_bytes(kSmallCnn);
         return std::vector<uint8_t>(s.begin(), s.begin() + static_cast<long>(s.size() / 2));
       },
       bad, "not a valid ONNX model"},
      {"Garbage", [] { return std::vector<uint8_t>(64, 0xff); }, bad, "not a valid ONNX model"},
      {"Empty", [] { return std::vector<uint8_t>(); }, bad, "no graph"},
      {"CyclicGraph", edit([](onnx::ModelProto& m) {
         // The first Conv reads the output of the last node.
         auto* g = m.mutable_graph();
         g->mutable_node(0)->set_input(0, g->node(g->node_size() - 1).output(0));
       }),
       bad, "(Conv): input"},
      {"MissingInitializer",
       edit([](onnx::ModelProto& m) { find_node(m, "Conv")->set_input(1, "no_such_weight"); }), bad,
       "missing initializer"},
      {"HugeDimension", edit([](onnx::ModelProto& m) {
         auto* w = find_initializer(m, "Conv");
         w->set_dims(0, int64_t{1} << 40);
       }),
       bad, "dimension 1099511627776"},
      {"HugeElementCount", edit([](onnx::ModelProto& m) {
         auto* w = find_initializer(m, "Conv");
         for (int i = 0; i < 4; ++i) w->set_dims(i, 1 << 20);
       }),
       unsupported, "more than"},
      {"NegativeDimension",
       edit([](onnx::ModelProto& m) { find_initializer(m, "Conv")->set_dims(1, -3); }), bad,
       "dimension -3"},
      {"WrongInitializerSize", edit([](onnx::ModelProto& m) {
         auto* w = find_initializer(m, "Conv");
         w->mutable_raw_data()->resize(w->raw_data().size() - 4);
       }),
       bad, "its dims need"},
      {"WeightsDoNotFitInput", edit([](onnx::ModelProto& m) {
         find_initializer(m, "Conv")->set_dims(1, 2);
         auto* w = find_initializer(m, "Conv");
         w->mutable_raw_data()->resize(w->raw_data().size() * 2);
       }),
       bad, "do not fit the input"},
      {"UnknownOpset",
       edit([](onnx::ModelProto& m) { m.mutable_opset_import(0)->set_version(99); }), unsupported,
       "opset 99"},
      {"OldOpset", edit([](onnx::ModelProto& m) { m.mutable_opset_import(0)->set_version(7); }),
       unsupported, "opsets 11 to 17"},
      {"UnsupportedOp",
       edit([](onnx::ModelProto& m) { find_node(m, "Relu")->set_op_type("Tanh"); }), unsupported,
       "(Tanh): operator not supported"},
      {"UnsupportedAttributeValue", edit([](onnx::ModelProto& m) {
         for (auto& a : *find_node(m, "Conv")->mutable_attribute()) {
           if (a.name() == "dilations") a.set_ints(0, 2);
         }
       }),
       unsupported, "(Conv): dilation"},
      {"UnknownAttribute", edit([](onnx::ModelProto& m) {
         auto* a = find_node(m, "MaxPool")->add_attribute();
         a->set_name("rounding");
         a->set_type(onnx::AttributeProto::INT);
       }),
       unsupported, "(MaxPool): attribute 'rounding' is not supported"},
      {"DuplicateAttribute", edit([](onnx::ModelProto& m) {
         auto* n = find_node(m, "Conv");
         *n->add_attribute() = n->attribute(0);
       }),
       bad, "is given twice"},
      {"CeilMode", edit([](onnx::ModelProto& m) {
         for (auto& a : *find_node(m, "MaxPool")->mutable_attribute()) {
           if (a.name() == "ceil_mode") a.set_i(1);
         }
       }),
       unsupported, "ceil_mode"},
      {"DynamicSpatialDimension", edit([](onnx::ModelProto& m) {
         auto* dim = m.mutable_graph()
                         ->mutable_input(0)
                         ->mutable_type()
                         ->mutable_tensor_type()
                         ->mutable_shape()
                         ->mutable_dim(2);
         dim->set_dim_param("height");
       }),
       unsupported, "is dynamic"},
      {"HugeInput", edit([](onnx::ModelProto& m) {
         auto* shape = m.mutable_graph()
                           ->mutable_input(0)
                           ->mutable_type()
                           ->mutable_tensor_type()
                           ->mutable_shape();
         shape->mutable_dim(2)->set_dim_value(1 << 20);
         shape->mutable_dim(3)->set_dim_value(1 << 20);
       }),
       unsupported, "elements per sample"},
      {"NegativeInputDimension", edit([](onnx::ModelProto& m) {
         m.mutable_graph()
             ->mutable_input(0)
             ->mutable_type()
             ->mutable_tensor_type()
             ->mutable_shape()
             ->mutable_dim(1)
             ->set_dim_value(-1);
       }),
       bad, "dimension 1 is -1"},
      {"HugePadding", edit([](onnx::ModelProto& m) {
         for (auto& a : *find_node(m, "Conv")->mutable_attribute()) {
           if (a.name() == "pads") {
             for (int i = 0; i < 4; ++i) a.set_ints(i, 1 << 22);
           }
         }
       }),
       unsupported, "(Conv): "},
      {"ExternalData", edit([](onnx::ModelProto& m) {
         auto* w = find_initializer(m, "Conv");
         w->clear_raw_data();
         w->set_data_location(onnx::TensorProto::EXTERNAL);
         auto* e = w->add_external_data();
         e->set_key("location");
         e->set_value("weights.bin");
       }),
       unsupported, "external file"},
      {"DoubleWeights", edit([](onnx::ModelProto& m) {
         find_initializer(m, "Conv")->set_data_type(onnx::TensorProto::DOUBLE);
       }),
       unsupported, "float64"},
      {"TwoGraphInputs", edit([](onnx::ModelProto& m) {
         auto* in = m.mutable_graph()->add_input();
         *in = m.graph().input(0);
         in->set_name("second");
       }),
       unsupported, "more than one input"},
      {"OutputNeverProduced",
       edit([](onnx::ModelProto& m) { m.mutable_graph()->mutable_output(0)->set_name("nothing"); }),
       bad, "never produced"},
      {"OutputProducedTwice", edit([](onnx::ModelProto& m) {
         auto* g = m.mutable_graph();
         g->mutable_node(1)->set_output(0, g->node(0).output(0));
       }),
       bad, "produced twice"},
      {"AsymmetricPads", edit([](onnx::ModelProto& m) {
         for (auto& a : *find_node(m, "Conv")->mutable_attribute()) {
           if (a.name() == "pads") a.set_ints(0, 0);
         }
       }),
       unsupported, "asymmetric padding"},
      {"AttributeOfWrongType", edit([](onnx::ModelProto& m) {
         for (auto& a : *find_node(m, "Conv")->mutable_attribute()) {
           if (a.name() == "group") a.set_type(onnx::AttributeProto::FLOAT);
         }
       }),
       bad, "'group' must be an int"},
      {"ForeignDomain",
       edit([](onnx::ModelProto& m) { find_node(m, "Relu")->set_domain("com.microsoft"); }),
       unsupported, "domain 'com.microsoft'"},
  };
}

class Malformed : public ::testing::TestWithParam<Case> {};

TEST_P(Malformed, FailsWithAClearError) {
  const Case& c = GetParam();
  const std::vector<uint8_t> bytes = c.bytes();
  try {
    import_onnx_bytes(bytes);
    FAIL() << c.name << ": imported without an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), c.code) << c.name << ": " << e.what();
    EXPECT_NE(std::string(e.what()).find(c.message), std::string::npos)
        << c.name << ": message was: " << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(Files, Malformed, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return info.param.name; });

TEST(OnnxImportErrors, UnreadableFileIsAnIoError) {
  try {
    import_onnx("/nonexistent/model.onnx");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kIo);
  }
}

#ifdef SPARQ_CLI
// The command line maps the errors onto its exit codes (tools/cli/README.md).
int run_cli(const std::string& args) {
  const int status =
      std::system((std::string(SPARQ_CLI) + " " + args + " >/dev/null 2>&1").c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(OnnxImportCli, ExitCodes) {
  const auto dir = std::filesystem::temp_directory_path() / "sparq_onnx_cli_test";
  std::filesystem::create_directories(dir);
  const std::string out = (dir / "out.sparq").string();
  auto write = [&](const std::string& name, const std::vector<uint8_t>& bytes) {
    const std::string path = (dir / name).string();
    std::ofstream(path, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()),
               static_cast<std::streamsize>(bytes.size()));
    return path;
  };
  const auto all = cases();
  auto bytes_of_case = [&](const std::string& name) {
    for (const Case& c : all) {
      if (c.name == name) return c.bytes();
    }
    ADD_FAILURE() << name;
    return std::vector<uint8_t>();
  };
  EXPECT_EQ(run_cli("import " + kSmallCnn + " -o " + out), 0);
  EXPECT_TRUE(Model::load(out));
  EXPECT_EQ(run_cli("import " + kSmallCnn + " -o " + out + " --quantize w4a4 --json"), 0);
  EXPECT_EQ(run_cli("import " + write("trunc.onnx", bytes_of_case("Truncated")) + " -o " + out), 5);
  EXPECT_EQ(run_cli("import " + write("tanh.onnx", bytes_of_case("UnsupportedOp")) + " -o " + out),
            6);
  EXPECT_EQ(run_cli("import /nonexistent.onnx -o " + out), 3);
  EXPECT_EQ(run_cli("import " + kSmallCnn + " -o " + out + " --quantize w2a2"), 2);
  std::filesystem::remove_all(dir);
}
#endif

}  // namespace
}  // namespace sparq

namespace sparq {
namespace {

// A graph built from scratch: [N, 2] -> MatMul by [2, 3] -> Add [3] (becomes
// the bias) -> Relu (fused) -> Softmax. x = {1, 2}, W = {{1, 0, -1}, {0, 1, 1}}:
// x W = {1, 2, 1}, + b {0, -1, -3} = {1, 1, -2}, relu {1, 1, 0},
// softmax {e, e, 1} / (2e + 1).
TEST(OnnxImportFromScratch, MatMulAddReluSoftmax) {
  onnx::ModelProto m;
  m.set_ir_version(7);
  m.add_opset_import()->set_version(13);
  auto* g = m.mutable_graph();
  g->set_name("scratch");
  auto* in = g->add_input();
  in->set_name("x");
  auto* t = in->mutable_type()->mutable_tensor_type();
  t->set_elem_type(onnx::TensorProto::FLOAT);
  t->mutable_shape()->add_dim()->set_dim_param("batch");
  t->mutable_shape()->add_dim()->set_dim_value(2);
  auto add_initializer = [&](const std::string& name, std::vector<int64_t> dims,
                             std::vector<float> values) {
    auto* w = g->add_initializer();
    w->set_name(name);
    w->set_data_type(onnx::TensorProto::FLOAT);
    for (int64_t d : dims) w->add_dims(d);
    for (float v : values) w->add_float_data(v);
  };
  add_initializer("W", {2, 3}, {1, 0, -1, 0, 1, 1});
  add_initializer("b", {3}, {0, -1, -3});
  auto add_node = [&](const std::string& op, std::vector<std::string> inputs,
                      const std::string& out) {
    auto* n = g->add_node();
    n->set_op_type(op);
    n->set_name(op);
    for (const auto& i : inputs) n->add_input(i);
    n->add_output(out);
  };
  add_node("MatMul", {"x", "W"}, "xw");
  add_node("Add", {"xw", "b"}, "z");
  add_node("Relu", {"z"}, "r");
  add_node("Softmax", {"r"}, "y");
  g->add_output()->set_name("y");

  std::string s;
  ASSERT_TRUE(m.SerializeToString(&s));
  const OnnxImport imported =
      import_onnx_bytes({reinterpret_cast<const uint8_t*>(s.data()), s.size()});
  ASSERT_EQ(imported.layers.size(), 2u);  // fully_connected (+bias, relu), softmax
  EXPECT_EQ(imported.layers[0].onnx_op, "MatMul+Add+Relu");
  SessionOptions options;
  options.backends = {"reference"};
  options.threads = 1;
  Session session(imported.model, options);
  const Tensor y = session.run(Tensor::from_floats(Shape{1, 2}, std::vector<float>{1, 2})).at(0);
  const float e = std::exp(1.0f), sum = 2 * e + 1;
  ASSERT_EQ(y.shape().elements(), 3);
  EXPECT_FLOAT_EQ(y.span<float>()[0], e / sum);
  EXPECT_FLOAT_EQ(y.span<float>()[1], e / sum);
  EXPECT_FLOAT_EQ(y.span<float>()[2], 1 / sum);
}

}  // namespace
}  // namespace sparq
