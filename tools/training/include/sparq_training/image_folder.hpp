// Image-folder data sets: ROOT/train/<class>/<image> and ROOT/test/<class>/<image>,
// one subfolder per class (PNG, JPEG, BMP, PGM/PPM), the layout most labelled
// image collections already have. Classes are the train split's subfolders in
// sorted order; the test split must have the same ones.
#pragma once

#include <filesystem>

#include "sparq_training/data.hpp"

namespace sparq::training {

// Every image must have the first image's width and height (resize them
// beforehand); colour images become gray (0.299 R + 0.587 G + 0.114 B) when
// the first image is gray, gray images RGB when it is colour; alpha is
// dropped. Files with other extensions are ignored. Samples are shuffled
// with a fixed seed (so a --train-limit slice holds every class). Throws sparq::Error
// naming the folder or file on a missing split, an empty class, a class set
// that differs between the splits, an unreadable image or a size mismatch.
Dataset load_image_folder(const std::filesystem::path& root, Split split);

// Writes `data` as ROOT/<split>/<class>/<index>.png (class names with
// characters other than letters, digits, '.', '-' and '_' get '_' there).
// Returns the number of files written.
int64_t write_image_folder(const Dataset& data, const std::filesystem::path& root, Split split);

}  // namespace sparq::training
