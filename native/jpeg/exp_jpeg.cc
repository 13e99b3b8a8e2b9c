// exp_jpeg: the JPEG fast path of the image pipeline, on the system's libjpeg-turbo.
//
// One call decodes one view of one image: the crop (or random-resized crop) of the image as if it
// had been resized so its shorter side is `resize`, without decoding or resizing the rest.
//  - DCT-domain scaling: libjpeg-turbo's IDCT scales by M/8 (M = 1..8); the smallest M whose output
//    is still at least the resized size is used, so the decoder never produces pixels that the
//    resize would only throw away, and the resampling that follows only ever shrinks.
//  - Crop-window decoding: rows above the window are skipped (entropy-decoded, not transformed),
//    columns outside it are not transformed (jpeg_crop_scanline), and decoding stops below it.
//  - Resampling: separable triangle (bilinear) filter whose support widens with the shrink factor,
//    the antialiased bilinear of PIL / torchvision's Resize; float accumulation, rounded to uint8.
// Anything unusual (CMYK, a libjpeg warning, a decode error, a header beyond the pixel limit) returns
// a "fallback" status and the caller decodes with sharp, which classifies bad files. The work runs
// on libuv's thread pool (napi_async_work), one image per thread. Plain Node-API: no extra packages.
#include <node_api.h>

#include <csetjmp>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

extern "C" {
#include <jpeglib.h>
}

namespace {

constexpr uint64_t kMaxPixels = uint64_t(1) << 28;  // the same limit as sharp's limitInputPixels

struct ErrorMgr {
  jpeg_error_mgr pub;
  jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void onError(j_common_ptr cinfo) {
  ErrorMgr *e = reinterpret_cast<ErrorMgr *>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, e->message);
  longjmp(e->jump, 1);
}

// Any warning (corrupt data, premature end of file) ends the fast path: sharp decides what the file is.
void onMessage(j_common_ptr cinfo, int level) {
  if (level < 0) onError(cinfo);
}

struct Decoder {
  jpeg_decompress_struct cinfo;
  ErrorMgr err;
  Decoder() {
    cinfo.err = jpeg_std_error(&err.pub);
    err.pub.error_exit = onError;
    err.pub.emit_message = onMessage;
    err.message[0] = 0;
    jpeg_create_decompress(&cinfo);
  }
  ~Decoder() { jpeg_destroy_decompress(&cinfo); }
};

/** Filter taps of one output pixel: first source index and normalised weights. */
struct Taps {
  int first;
  int count;
  int offset;  // into the weights array
};

/**
 * Triangle-filter taps for `n` output pixels whose centres lie at origin + (i + 0.5) * step in
 * source coordinates (source pixel j covers [j, j + 1)); taps are clipped to [0, limit).
 */
void makeTaps(double origin, double step, int n, int limit, std::vector<Taps> &taps, std::vector<float> &w) {
  const double support = std::max(step, 1.0);  // triangle radius in source pixels
  taps.resize(n);
  w.clear();
  for (int i = 0; i < n; i++) {
    const double c = origin + (i + 0.5) * step;
    int lo = std::max(0, int(std::floor(c - support)));
    int hi = std::min(limit, int(std::ceil(c + support)));
    if (hi <= lo) {  // degenerate (should not happen): nearest pixel
      lo = std::min(limit - 1, std::max(0, int(c)));
      hi = lo + 1;
    }
    const int off = int(w.size());
    double sum = 0;
    for (int j = lo; j < hi; j++) {
      const double d = std::fabs((j + 0.5 - c) / support);
      const double v = d < 1 ? 1 - d : 0;
      w.push_back(float(v));
      sum += v;
    }
    if (sum <= 0) {  // all taps at zero weight: take the nearest
      for (int k = 0; k < hi - lo; k++) w[off + k] = 0;
      const int j = std::min(hi - 1, std::max(lo, int(c)));
      w[off + (j - lo)] = 1;
      sum = 1;
    }
    for (int k = off; k < int(w.size()); k++) w[k] = float(w[k] / sum);
    taps[i] = {lo, hi - lo, off};
  }
}

struct Job {
  // inputs
  const uint8_t *src = nullptr;
  size_t srcLen = 0;
  int resizedW = 0, resizedH = 0;       // the image after Resize(resize)
  double boxL = 0, boxT = 0, boxW = 0, boxH = 0;  // the crop, in resized coordinates
  int outW = 0, outH = 0;
  uint8_t *out = nullptr;               // outW * outH * 3, RGB
  // result
  bool ok = false;
  std::string why;
  int scaleNum = 8;
  // JS handles
  napi_ref srcRef = nullptr, outRef = nullptr;
  napi_deferred deferred = nullptr;
  napi_async_work work = nullptr;
};

/** The whole decode + resample; returns false (with job.why) when the caller must fall back. */
bool runJob(Job &job) {
  Decoder d;
  jpeg_decompress_struct &ci = d.cinfo;
  // every object with a destructor is declared before setjmp: longjmp must not skip a constructor
  std::vector<uint8_t> rows;
  std::vector<Taps> tx, ty;
  std::vector<float> wx, wy, h, acc;
  if (setjmp(d.err.jump)) {
    job.why = d.err.message;
    return false;
  }
  jpeg_mem_src(&ci, job.src, (unsigned long)job.srcLen);
  jpeg_read_header(&ci, TRUE);
  if (uint64_t(ci.image_width) * ci.image_height > kMaxPixels) {
    job.why = "image larger than the pixel limit";
    return false;
  }
  if (ci.jpeg_color_space != JCS_YCbCr && ci.jpeg_color_space != JCS_GRAYSCALE && ci.jpeg_color_space != JCS_RGB) {
    job.why = "colour space other than YCbCr, RGB or grayscale";
    return false;
  }
  ci.out_color_space = JCS_RGB;  // grayscale becomes three equal channels
  // the smallest M/8 scale whose output still covers the resized image in both directions
  int m = 8;
  for (int k = 1; k <= 8; k++) {
    const uint64_t sw = (uint64_t(ci.image_width) * k + 7) / 8, sh = (uint64_t(ci.image_height) * k + 7) / 8;
    if (sw >= uint64_t(job.resizedW) && sh >= uint64_t(job.resizedH)) {
      m = k;
      break;
    }
  }
  ci.scale_num = m;
  ci.scale_denom = 8;
  job.scaleNum = m;
  jpeg_start_decompress(&ci);
  const int sw = int(ci.output_width), sh = int(ci.output_height);

  // output pixel centres in decoded coordinates. Decoded pixel j covers source pixels [8j/M, 8(j+1)/M)
  // (the last one partly: libjpeg rounds the scaled size up), so resized -> decoded is a scale by
  // (W * M / 8) / resizedW, not by sw / resizedW.
  const double fx = double(ci.image_width) * m / 8 / job.resizedW, fy = double(ci.image_height) * m / 8 / job.resizedH;
  const double stepX = job.boxW / job.outW * fx, stepY = job.boxH / job.outH * fy;
  makeTaps(job.boxL * fx, stepX, job.outW, sw, tx, wx);
  makeTaps(job.boxT * fy, stepY, job.outH, sh, ty, wy);
  const int x0 = tx.front().first, x1 = tx.back().first + tx.back().count;
  const int y0 = ty.front().first, y1 = ty.back().first + ty.back().count;

  // decode only columns [x0, x1) and rows [y0, y1). libjpeg widens the columns to whole iMCUs; one
  // more column each side keeps chroma upsampling at the window's edges the same as a full decode
  const int cx0 = std::max(0, x0 - 1), cx1 = std::min(sw, x1 + 1);
  JDIMENSION xoff = JDIMENSION(cx0), width = JDIMENSION(cx1 - cx0);
  if (cx0 > 0 || cx1 < sw) jpeg_crop_scanline(&ci, &xoff, &width);
  const int cx = int(xoff), cw = int(width);  // decoded columns [cx, cx + cw)
  if (y0 > 0 && jpeg_skip_scanlines(&ci, JDIMENSION(y0)) != JDIMENSION(y0)) {
    job.why = "could not skip rows";
    return false;
  }
  const int nrows = y1 - y0;
  const size_t stride = size_t(cw) * 3;
  rows.resize(stride * nrows);
  while (int(ci.output_scanline) < y1) {
    JSAMPROW row = rows.data() + stride * (ci.output_scanline - y0);
    if (jpeg_read_scanlines(&ci, &row, 1) != 1) {
      job.why = "short read";
      return false;
    }
  }
  jpeg_abort_decompress(&ci);  // the rest of the image is not needed

  // horizontal pass: nrows x outW x 3 floats
  h.resize(size_t(nrows) * job.outW * 3);
  for (int r = 0; r < nrows; r++) {
    const uint8_t *in = rows.data() + stride * r;
    float *o = h.data() + size_t(r) * job.outW * 3;
    for (int i = 0; i < job.outW; i++) {
      const Taps &t = tx[i];
      const float *wt = wx.data() + t.offset;
      const uint8_t *p = in + size_t(t.first - cx) * 3;
      float a = 0, b = 0, c = 0;
      for (int k = 0; k < t.count; k++, p += 3) {
        a += wt[k] * p[0];
        b += wt[k] * p[1];
        c += wt[k] * p[2];
      }
      o[i * 3] = a;
      o[i * 3 + 1] = b;
      o[i * 3 + 2] = c;
    }
  }
  // vertical pass into uint8
  const int rowLen = job.outW * 3;
  acc.resize(rowLen);
  for (int j = 0; j < job.outH; j++) {
    const Taps &t = ty[j];
    const float *wt = wy.data() + t.offset;
    std::fill(acc.begin(), acc.end(), 0.f);
    for (int k = 0; k < t.count; k++) {
      const float *in = h.data() + size_t(t.first - y0 + k) * rowLen;
      const float wk = wt[k];
      for (int q = 0; q < rowLen; q++) acc[q] += wk * in[q];
    }
    uint8_t *o = job.out + size_t(j) * rowLen;
    for (int q = 0; q < rowLen; q++) {
      const float v = std::nearbyint(acc[q]);
      o[q] = uint8_t(v < 0 ? 0 : v > 255 ? 255 : v);
    }
  }
  return true;
}

#define CHECK(call)                                                      \
  do {                                                                   \
    if ((call) != napi_ok) {                                             \
      napi_throw_error(env, nullptr, "exp_jpeg: Node-API call failed");  \
      return nullptr;                                                    \
    }                                                                    \
  } while (0)

bool bytesOf(napi_env env, napi_value v, uint8_t **data, size_t *len) {
  bool is = false;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return false;
  napi_typedarray_type type;
  size_t length, offset;
  void *ptr;
  napi_value ab;
  if (napi_get_typedarray_info(env, v, &type, &length, &ptr, &ab, &offset) != napi_ok) return false;
  if (type != napi_uint8_array) return false;
  *data = static_cast<uint8_t *>(ptr);
  *len = length;
  return true;
}

double num(napi_env env, napi_value v) {
  double x = 0;
  napi_get_value_double(env, v, &x);
  return x;
}

/** header(buf) -> [width, height, components] or null when libjpeg cannot read the header. */
napi_value Header(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  uint8_t *data;
  size_t len;
  napi_value result;
  CHECK(napi_get_null(env, &result));
  if (argc < 1 || !bytesOf(env, argv[0], &data, &len)) {
    napi_throw_type_error(env, nullptr, "header(buf): buf must be a Uint8Array");
    return nullptr;
  }
  Decoder d;
  if (setjmp(d.err.jump)) return result;
  jpeg_mem_src(&d.cinfo, data, (unsigned long)len);
  jpeg_read_header(&d.cinfo, TRUE);
  CHECK(napi_create_array_with_length(env, 3, &result));
  const double vals[3] = {double(d.cinfo.image_width), double(d.cinfo.image_height), double(d.cinfo.num_components)};
  for (uint32_t i = 0; i < 3; i++) {
    napi_value x;
    CHECK(napi_create_double(env, vals[i], &x));
    CHECK(napi_set_element(env, result, i, x));
  }
  return result;
}

void execute(napi_env, void *data) {
  Job *job = static_cast<Job *>(data);
  job->ok = runJob(*job);
}

void complete(napi_env env, napi_status status, void *data) {
  Job *job = static_cast<Job *>(data);
  napi_value result, ok, why, scale;
  napi_create_object(env, &result);
  napi_get_boolean(env, status == napi_ok && job->ok, &ok);
  napi_create_string_utf8(env, job->why.c_str(), job->why.size(), &why);
  napi_create_int32(env, job->scaleNum, &scale);
  napi_set_named_property(env, result, "ok", ok);
  napi_set_named_property(env, result, "why", why);
  napi_set_named_property(env, result, "scaleNum", scale);
  napi_resolve_deferred(env, job->deferred, result);
  napi_delete_reference(env, job->srcRef);
  napi_delete_reference(env, job->outRef);
  napi_delete_async_work(env, job->work);
  delete job;
}

/**
 * decodeView(buf, resizedW, resizedH, boxLeft, boxTop, boxWidth, boxHeight, outW, outH, out)
 * -> Promise<{ ok, why, scaleNum }>. Writes outW x outH RGB into `out` when ok.
 */
napi_value DecodeView(napi_env env, napi_callback_info info) {
  size_t argc = 10;
  napi_value argv[10];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  uint8_t *src, *out;
  size_t srcLen, outLen;
  if (argc < 10 || !bytesOf(env, argv[0], &src, &srcLen) || !bytesOf(env, argv[9], &out, &outLen)) {
    napi_throw_type_error(env, nullptr, "decodeView: expected (Uint8Array, 8 numbers, Uint8Array)");
    return nullptr;
  }
  Job *job = new Job();
  job->src = src;
  job->srcLen = srcLen;
  job->resizedW = int(num(env, argv[1]));
  job->resizedH = int(num(env, argv[2]));
  job->boxL = num(env, argv[3]);
  job->boxT = num(env, argv[4]);
  job->boxW = num(env, argv[5]);
  job->boxH = num(env, argv[6]);
  job->outW = int(num(env, argv[7]));
  job->outH = int(num(env, argv[8]));
  job->out = out;
  if (job->resizedW < 1 || job->resizedH < 1 || job->outW < 1 || job->outH < 1 || !(job->boxW > 0) ||
      !(job->boxH > 0) || outLen < size_t(job->outW) * job->outH * 3) {
    delete job;
    napi_throw_range_error(env, nullptr, "decodeView: bad geometry or output buffer too small");
    return nullptr;
  }
  napi_value promise, name;
  CHECK(napi_create_promise(env, &job->deferred, &promise));
  CHECK(napi_create_reference(env, argv[0], 1, &job->srcRef));
  CHECK(napi_create_reference(env, argv[9], 1, &job->outRef));
  CHECK(napi_create_string_utf8(env, "exp_jpeg.decodeView", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_create_async_work(env, nullptr, name, execute, complete, job, &job->work));
  CHECK(napi_queue_async_work(env, job->work));
  return promise;
}

napi_value Init(napi_env env, napi_value exports) {
  napi_value fn, version;
  if (napi_create_function(env, "header", NAPI_AUTO_LENGTH, Header, nullptr, &fn) == napi_ok)
    napi_set_named_property(env, exports, "header", fn);
  if (napi_create_function(env, "decodeView", NAPI_AUTO_LENGTH, DecodeView, nullptr, &fn) == napi_ok)
    napi_set_named_property(env, exports, "decodeView", fn);
#ifdef LIBJPEG_TURBO_VERSION
#define EXP_STR2(x) #x
#define EXP_STR(x) EXP_STR2(x)
  const char *v = "libjpeg-turbo " EXP_STR(LIBJPEG_TURBO_VERSION);
#else
  const char *v = "libjpeg";
#endif
  if (napi_create_string_utf8(env, v, NAPI_AUTO_LENGTH, &version) == napi_ok)
    napi_set_named_property(env, exports, "version", version);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
