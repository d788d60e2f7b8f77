// sparq-train: train, prune, quantization-aware fine-tune and export models
// for the sparq runtime, and reproduce the Fashion-MNIST study.
// `sparq train|prune|study ...` forwards here.
#include <torch/torch.h>

#include <malloc.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>

#include "sparq/error.hpp"
#include "sparq_training/commands.hpp"
#include "sparq_training/prune.hpp"
#include "sparq_training/study.hpp"
#include "sparq_training/verify.hpp"

using namespace sparq::training;

namespace {

// libtorch allocates and frees multi-megabyte activation buffers every step.
// glibc serves each from a fresh mmap and returns it on free, so every step
// page-faults its working set in again: on this 2-core machine that was half
// of the training time and 80 % of the evaluation time (sys time). Keeping
// freed memory in the heap makes an epoch 1.5x and an evaluation 6x faster.
void keep_freed_memory_in_heap() {
  constexpr int kOneGiB = 1 << 30;
  if (mallopt(M_MMAP_THRESHOLD, kOneGiB) != 1) mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, kOneGiB);
  mallopt(M_TOP_PAD, 64 << 20);
}

std::string joined_command_line(int argc, char** argv) {
  std::string line = "sparq-train";
  for (int i = 1; i < argc; ++i) line += std::string(" ") + argv[i];
  return line;
}

void add_data_flags(CLI::App* app, DataOptions& data) {
  app->add_option("--data", data.dir, "data set directory")->capture_default_str();
  app->add_option("--format", data.format, "idx | cifar10 | cifar100 | folder")
      ->capture_default_str();
  app->add_option("--train-limit", data.train_limit, "use the first N training images (0: all)")
      ->check(CLI::NonNegativeNumber);
  app->add_option("--test-limit", data.test_limit, "use the first N test images (0: all)")
      ->check(CLI::NonNegativeNumber);
}

void add_train_flags(CLI::App* app, TrainOptions& t, const std::string& prefix,
                     bool with_epochs = true) {
  if (with_epochs) {
    app->add_option("--" + prefix + "epochs", t.epochs, "epochs (may be fractional)")
        ->capture_default_str()
        ->check(CLI::NonNegativeNumber);
  }
  app->add_option("--" + prefix + "lr", t.lr, "peak learning rate")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app->add_option("--" + prefix + "max-steps", t.max_steps, "stop after N steps (0: no limit)")
      ->check(CLI::NonNegativeNumber);
}

}  // namespace

int main(int argc, char** argv) {
  keep_freed_memory_in_heap();
  CLI::App app{"sparq-train: gradual N-of-9 pruning and 4-bit quantization with libtorch"};
  app.require_subcommand(1);
  int threads = 2;
  app.add_option("--threads", threads, "libtorch threads")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  const std::string command_line = joined_command_line(argc, argv);

  TrainCommand train_cmd;
  train_cmd.command_line = command_line;
  auto* train = app.add_subcommand("train", "dense training from scratch");
  add_data_flags(train, train_cmd.data);
  train->add_option("--arch", train_cmd.arch, "cnn | vgg | resnet20 | resnet18")
      ->capture_default_str();
  train->add_option("--width", train_cmd.width, "channels of the first stage (0: default)")
      ->check(CLI::NonNegativeNumber);
  auto add_model_flags = [](CLI::App* app, std::string& model, std::string& preprocess) {
    app->add_option("--model", model,
                    "float .sparq model to start from (sparq import MODEL.onnx -o X.sparq)");
    app->add_option("--preprocess", preprocess,
                    "with --model: model (as recorded in it) | dataset (mean/std measured) | "
                    "scale=S,mean=M1/M2/..,std=S1/S2/..")
        ->capture_default_str();
  };
  add_model_flags(train, train_cmd.model, train_cmd.preprocess);
  train_cmd.train.epochs = 6;
  train_cmd.train.lr = 0.05;
  train_cmd.train.warmup_fraction = 0.03;
  add_train_flags(train, train_cmd.train, "");
  train->add_option("--batch", train_cmd.train.batch)
      ->capture_default_str()
      ->check(CLI::Range(1, 65536));
  train->add_option("--seed", train_cmd.train.seed)->capture_default_str();
  train->add_option("--crop-padding", train_cmd.train.crop_padding)
      ->capture_default_str()
      ->check(CLI::Range(0, 16));
  train->add_flag("!--no-flip", train_cmd.train.flip, "no random horizontal flips");
  train->add_option("--out", train_cmd.out, "checkpoint to write")->required();
  train->add_flag("--resume", train_cmd.resume, "continue the run saved at --out");

  PruneCommand prune_cmd;
  prune_cmd.command_line = command_line;
  auto* prune = app.add_subcommand("prune", "gradual N-of-9 pruning with fine-tuning, then QAT");
  add_data_flags(prune, prune_cmd.data);
  prune->add_option("--in", prune_cmd.in, "checkpoint to prune");
  add_model_flags(prune, prune_cmd.model, prune_cmd.preprocess);
  prune->add_option("--out", prune_cmd.out, "checkpoint to write")->required();
  prune->add_option("--k", prune_cmd.target_k, "taps kept per 3x3 kernel (1..9)")
      ->capture_default_str();
  std::string sharing = "1x1";
  prune->add_option("--sharing", sharing, "OUTxIN channel groups sharing tap positions")
      ->capture_default_str();
  prune_cmd.finetune.epochs = 1;
  prune_cmd.finetune.lr = 0.01;
  add_train_flags(prune, prune_cmd.finetune, "round-");
  prune_cmd.qat.epochs = 0.5;
  prune_cmd.qat.lr = 0.002;
  prune_cmd.qat.crop_padding = 0;
  prune_cmd.qat.flip = false;
  add_train_flags(prune, prune_cmd.qat, "qat-");
  prune->add_option("--act-bits", prune_cmd.act_bits, "QAT activation bits (8 or 4)")
      ->capture_default_str()
      ->check(CLI::IsMember({8, 4}));
  prune->add_option("--seed", prune_cmd.finetune.seed)->capture_default_str();
  prune->add_flag("--resume", prune_cmd.resume, "continue at the last round saved at --out");

  ExportCommand export_cmd;
  export_cmd.command_line = command_line;
  auto* exp = app.add_subcommand("export", "write a .sparq model (BatchNorm folded, s4 taps)");
  add_data_flags(exp, export_cmd.data);
  exp->add_option("--in", export_cmd.in, "checkpoint")->required();
  exp->add_option("--out", export_cmd.out, ".sparq file to write")->required();
  exp->add_option("--act-bits", export_cmd.act_bits, "middle activation bits (8 or 4)")
      ->capture_default_str()
      ->check(CLI::IsMember({8, 4}));

  EvalCommand eval_cmd;
  auto* eval = app.add_subcommand("eval", "fp32, w4a8 and w4a4 test accuracy of a checkpoint");
  add_data_flags(eval, eval_cmd.data);
  eval->add_option("--in", eval_cmd.in, "checkpoint")->required();

  ExportImagesCommand images_cmd;
  auto* images = app.add_subcommand(
      "export-images", "write a data set as PNG files, ROOT/{train,test}/<class>/<n>.png");
  add_data_flags(images, images_cmd.data);
  images->add_option("--out", images_cmd.out, "folder to create")->required();

  VerifyCommand verify_cmd;
  auto* verify = app.add_subcommand(
      "verify", "runtime accuracy of a .sparq model against the accuracy it records");
  add_data_flags(verify, verify_cmd.data);
  verify->add_option("--model", verify_cmd.model, ".sparq file")->required();
  verify->add_option("--backend", verify_cmd.backend, "sparq backend")->capture_default_str();
  verify->add_option("--tolerance", verify_cmd.tolerance, "allowed difference in points")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);

  StudyCommand study_cmd;
  study_cmd.command_line = command_line;
  auto* study = app.add_subcommand("study", "the Fashion-MNIST pruning / quantization study");
  add_data_flags(study, study_cmd.data);
  study->add_option("--arch", study_cmd.arch, "cnn | vgg | resnet20 | resnet18")
      ->capture_default_str();
  study->add_option("--width", study_cmd.width, "channels of the first stage (0: default)")
      ->check(CLI::NonNegativeNumber);
  study_cmd.dense.epochs = 6;
  study_cmd.dense.lr = 0.05;
  study_cmd.dense.warmup_fraction = 0.03;
  add_train_flags(study, study_cmd.dense, "dense-");
  study_cmd.finetune.lr = 0.01;
  add_train_flags(study, study_cmd.finetune, "round-", false);
  study
      ->add_option("--round-epochs", study_cmd.round_epochs,
                   "fine-tuning epochs per round: one value, or eight for the rounds to k = 8..1")
      ->capture_default_str()
      ->delimiter(',')
      ->check(CLI::NonNegativeNumber);
  int study_batch = 128;
  study->add_option("--batch", study_batch, "batch size of every training phase")
      ->capture_default_str()
      ->check(CLI::Range(1, 65536));
  study_cmd.qat.epochs = 0.5;
  study_cmd.qat.lr = 0.002;
  study_cmd.qat.crop_padding = 0;
  study_cmd.qat.flip = false;
  add_train_flags(study, study_cmd.qat, "qat-");
  study->add_option("--seed", study_cmd.dense.seed)->capture_default_str();
  study->add_option("--sharing", study_cmd.sharing_rules, "pattern-sharing rules to compare")
      ->capture_default_str()
      ->delimiter(',');
  study->add_option("--dense", study_cmd.dense_checkpoint,
                    "reuse this dense checkpoint instead of training one");
  study->add_option("--work-dir", study_cmd.work_dir, "checkpoints and exported models")
      ->capture_default_str();
  study->add_option("--report", study_cmd.report, "markdown report (the SVG plot goes next to it)")
      ->capture_default_str();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    torch::set_num_threads(threads);
    if (*study) {
      for (TrainOptions* t : {&study_cmd.dense, &study_cmd.finetune, &study_cmd.qat}) {
        t->batch = study_batch;
      }
    }
    if (*train) return run_train(train_cmd);
    if (*prune) {
      prune_cmd.sharing = parse_sharing(sharing);
      return run_prune(prune_cmd);
    }
    if (*exp) return run_export(export_cmd);
    if (*eval) return run_eval(eval_cmd);
    if (*images) return run_export_images(images_cmd);
    if (*verify) return run_verify(verify_cmd);
    if (*study) {
      study_cmd.finetune.seed = study_cmd.qat.seed = study_cmd.dense.seed;
      return run_study(study_cmd);
    }
  } catch (const sparq::Error& e) {
    std::fprintf(stderr, "sparq-train: error: %s\n", e.what());
    return 1;
  } catch (const c10::Error& e) {
    std::fprintf(stderr, "sparq-train: libtorch error: %s\n", e.what_without_backtrace());
    return 1;
  }
  return 0;
}
