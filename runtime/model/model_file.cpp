// Model <-> .sparq files and buffers. The format itself lives in
// model_reader.cpp / model_writer.cpp; this file adds the file system side,
// where every failure becomes Error(kIo) naming the path.
#include <cerrno>
#include <cstring>
#include <fstream>
#include <system_error>

#include "runtime/model/model_format.hpp"
#include "sparq/error.hpp"
#include "sparq/model.hpp"

namespace sparq {
namespace {

namespace fs = std::filesystem;

[[noreturn]] void io_error(const fs::path& path, const std::string& what) {
  throw Error(ErrorCode::kIo, "model file '" + path.string() + "': " + what);
}

std::vector<uint8_t> read_file(const fs::path& path) {
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (ec || !fs::exists(status)) {
    io_error(path, "cannot open: " + (ec ? ec.message() : std::string("no such file")));
  }
  if (fs::is_directory(status)) io_error(path, "is a directory, not a model file");
  if (!fs::is_regular_file(status)) io_error(path, "is not a regular file");
  const uintmax_t size = fs::file_size(path, ec);
  if (ec) io_error(path, "cannot read its size: " + ec.message());
  if (size > model_format::kMaxFileBytes) {
    throw Error(ErrorCode::kInvalidModel, "model file '" + path.string() + "' has " +
                                              std::to_string(size) +
                                              " bytes; a .sparq file holds at most " +
                                              std::to_string(model_format::kMaxFileBytes));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) io_error(path, std::string("cannot open: ") + std::strerror(errno));
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (static_cast<size_t>(in.gcount()) != bytes.size()) {
    io_error(path,
             "read " + std::to_string(in.gcount()) + " of " + std::to_string(size) + " bytes");
  }
  return bytes;
}

}  // namespace

std::shared_ptr<const Model> Model::from_bytes(std::span<const uint8_t> bytes) {
  model_format::ModelParts parts = model_format::read_model(bytes);
  auto model = std::make_shared<Model>(std::move(parts.graph), std::move(parts.metadata));
  model->checksum_verified_ = parts.checksum_verified;
  return model;
}

std::shared_ptr<const Model> Model::load(const std::filesystem::path& path) {
  std::vector<uint8_t> bytes = read_file(path);
  try {
    return from_bytes(bytes);
  } catch (const Error& e) {
    // Say which file: a tool loading several models must name the bad one.
    throw Error(e.code(), "model file '" + path.string() + "': " + e.what());
  }
}

std::vector<uint8_t> Model::to_bytes() const {
  return model_format::write_model(graph_, metadata_);
}

void Model::save(const std::filesystem::path& path) const {
  const std::vector<uint8_t> bytes = to_bytes();
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) io_error(path, std::string("cannot open for writing: ") + std::strerror(errno));
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) io_error(path, "writing " + std::to_string(bytes.size()) + " bytes failed");
}

}  // namespace sparq
