// Load an AudioConcept model.pte with ExecuTorch's C++ runtime (the same calls an Android or iOS app makes) and
// print the logits for one mel read from a .npy file (float32, C order, shape (1, n_mels, frames)).
//
// Built against the headers and libraries inside the executorch pip wheel: see build.sh beside this file.
// Usage: run_pte MODEL.pte MEL.npy  ->  one line per output: "logits: v0 v1 ...".
#include <executorch/extension/module/module.h>
#include <executorch/extension/tensor/tensor.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

using executorch::extension::Module;
using executorch::extension::from_blob;
using executorch::runtime::Error;

namespace {

// The smallest .npy reader that is still strict: version 1 or 2 header, '<f4', C order, any shape.
bool read_npy(const std::string& path, std::vector<float>& data, std::vector<int>& shape, std::string& why) {
  std::ifstream f(path, std::ios::binary);
  if (!f) { why = "cannot open " + path; return false; }
  char magic[6];
  f.read(magic, 6);
  if (std::string(magic, 6) != "\x93NUMPY") { why = path + " is not a .npy file"; return false; }
  unsigned char ver[2];
  f.read(reinterpret_cast<char*>(ver), 2);
  size_t hlen = 0;
  if (ver[0] == 1) {
    unsigned char b[2]; f.read(reinterpret_cast<char*>(b), 2); hlen = b[0] | (b[1] << 8);
  } else {
    unsigned char b[4]; f.read(reinterpret_cast<char*>(b), 4); hlen = b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24);
  }
  std::string header(hlen, ' ');
  f.read(&header[0], hlen);
  if (header.find("'descr': '<f4'") == std::string::npos) { why = "the mel must be float32 ('<f4')"; return false; }
  if (header.find("'fortran_order': False") == std::string::npos) { why = "the mel must be C order"; return false; }
  auto a = header.find('('), b = header.find(')');
  std::stringstream dims(header.substr(a + 1, b - a - 1));
  std::string d;
  size_t n = 1;
  while (std::getline(dims, d, ',')) {
    if (d.find_first_not_of(' ') == std::string::npos) continue;
    shape.push_back(std::stoi(d));
    n *= shape.back();
  }
  data.resize(n);
  f.read(reinterpret_cast<char*>(data.data()), n * sizeof(float));
  if (static_cast<size_t>(f.gcount()) != n * sizeof(float)) { why = path + " is shorter than its header says"; return false; }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: run_pte MODEL.pte MEL.npy\n";
    return 2;
  }
  std::vector<float> mel;
  std::vector<int> shape;
  std::string why;
  if (!read_npy(argv[2], mel, shape, why)) {
    std::cerr << "error: " << why << "\n";
    return 2;
  }
  Module module(argv[1]);
  if (module.load_method("forward") != Error::Ok) {  // every kernel and delegate is resolved here
    std::cerr << "error: " << argv[1] << ": cannot load method forward (missing kernel or delegate?)\n";
    return 1;
  }
  auto input = from_blob(mel.data(), {shape.begin(), shape.end()});
  const auto result = module.forward(input);
  if (!result.ok()) {
    std::cerr << "error: forward failed (0x" << std::hex << static_cast<int>(result.error()) << ")\n";
    return 1;
  }
  const char* names[] = {"logits", "probabilities", "embedding", "concepts", "concept_frames"};
  for (size_t i = 0; i < result->size() && i < 5; ++i) {
    const auto& t = result->at(i).toTensor();
    std::printf("%s:", names[i]);
    for (ssize_t k = 0; k < t.numel(); ++k) std::printf(" %.9g", t.const_data_ptr<float>()[k]);
    std::printf("\n");
  }
  return 0;
}
