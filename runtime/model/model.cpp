#include "sparq/model.hpp"

namespace sparq {

Model::Model(Graph graph, ModelMetadata metadata)
    : graph_(std::move(graph)), metadata_(std::move(metadata)) {
  validate(graph_);
}

}  // namespace sparq
