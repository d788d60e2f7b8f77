// parse_preprocessing: the --preprocess text of sparq import and sparq-train.
#include <gtest/gtest.h>

#include "sparq/error.hpp"
#include "sparq/preprocessing_text.hpp"

namespace sparq {
namespace {

std::string error_of(const std::string& text) {
  Preprocessing pre;
  try {
    parse_preprocessing(text, pre);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    return e.what();
  }
  return "";
}

TEST(PreprocessingText, ReadsEveryKey) {
  Preprocessing pre;
  parse_preprocessing("scale=0.5,mean=0.485/0.456/0.406,std=0.25", pre);
  EXPECT_EQ(pre.scale, 0.5f);
  EXPECT_EQ(pre.mean, (std::vector<float>{0.485f, 0.456f, 0.406f}));
  EXPECT_EQ(pre.std, (std::vector<float>{0.25f}));
}

TEST(PreprocessingText, KeysNotGivenKeepTheirValues) {
  Preprocessing pre;
  pre.scale = 2.0f;
  pre.mean = {1.0f};
  pre.std = {3.0f, 4.0f};
  parse_preprocessing("mean=0.5", pre);
  EXPECT_EQ(pre.scale, 2.0f);
  EXPECT_EQ(pre.mean, (std::vector<float>{0.5f}));
  EXPECT_EQ(pre.std, (std::vector<float>{3.0f, 4.0f}));
}

TEST(PreprocessingText, NamesWhatIsWrong) {
  EXPECT_NE(error_of("scale").find("expected key=value, got 'scale'"), std::string::npos);
  EXPECT_NE(error_of("mean=0.5/x").find("mean has a value that is not a number: 'x'"),
            std::string::npos);
  EXPECT_NE(error_of("mean=0.5/1e").find("not a number: '1e'"), std::string::npos);
  EXPECT_NE(error_of("std=").find("std has no value"), std::string::npos);
  EXPECT_NE(error_of("mu=1").find("unknown key 'mu'"), std::string::npos);
  EXPECT_NE(error_of("scale=1/2").find("unknown key 'scale'"), std::string::npos);
  EXPECT_NE(error_of("scale=0").find("scale must be positive"), std::string::npos);
  EXPECT_NE(error_of("std=1/-2").find("std must be positive"), std::string::npos);
  EXPECT_NE(error_of("mean=inf").find("not finite"), std::string::npos);
  EXPECT_NE(error_of("scale=nan").find("not finite"), std::string::npos);
}

}  // namespace
}  // namespace sparq
