// InferenceEngine back end "kserve-v2": scores batches on a remote server speaking the KServe v2
// / Open Inference Protocol over HTTP(S) with JSON bodies (kserve_v2.h): an Azure ML online
// endpoint, KServe, Triton, or another Strata.
//
// Load(onnx_path, card) ignores `onnx_path` (the model lives on the server). It reads
//   GET {base_url}/v2/models/{name}[/versions/{version}]
// and checks the server's input against the card: exactly one FP32 input of shape
// [batch, channels, height, width], where batch is -1 (dynamic) or 1 and any other axis is the
// card's value or -1; and, when the server names its outputs, that the output used for scores
// (the only one, else "probabilities") has one value per label. Run() then posts
//   POST {base_url}/v2/models/{name}[/versions/{version}]/infer
// with the whole batch as one "input" tensor (one request per image when the server's batch
// axis is fixed at 1).
//
// HTTP goes through blob::HttpClient (for now that interface lives in the blob module, so
// strata_inference links strata_blob). 429, 500, 502-504 and network failures are retried with
// blob::SendWithRetries; inference is a pure function, so repeating a POST is safe. Errors:
//   Load:  kUnavailable (network failure, 5xx, 408 or 429, after any retries), kNotFound (404:
//          no such model or version), kUnauthenticated (401), kPermissionDenied (403),
//          kInvalidArgument (other 4xx, or metadata that is not valid or disagrees with the card),
//          kInternal (an unexpected status such as a 3xx: redirects are not followed);
//   Run:   kInvalidArgument (bad batch, or another 4xx with the server's error text), kNotFound,
//          kUnauthenticated, kPermissionDenied, kUnavailable as for Load, kInternal (a 2xx whose
//          body is not an inference response for this batch and card, or a 3xx).
// Messages carry the server's {"error": ...} text, never the bearer token.
//
// Thread-safety: as InferenceEngine; Run() calls proceed in parallel (the HttpClient is safe for
// concurrent use). The engine owns its HttpClient; a LoadedModel borrows it and must not
// outlive the engine.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "blob/http_client.h"
#include "blob/http_retry.h"
#include "core/status.h"
#include "inference/inference_engine.h"

namespace strata::inference {

struct RemoteKServeOptions {
  // "http://host[:port][/prefix]" or "https://..."; no query or fragment; trailing '/' ignored.
  std::string base_url;
  // Sent as "Authorization: Bearer <token>" (Azure ML online endpoints' key or token); empty:
  // no Authorization header. Use https:// with a token (a warning is logged for http://).
  std::string bearer_token;
  // The model's name on the server; empty: the card's name.
  std::string model_name;
  // The version path segment; empty: the card's version. With use_version false, URLs have no
  // "/versions/..." segment (servers that host one version, e.g. Azure ML deployments).
  std::string model_version;
  bool use_version = true;
  // Per attempt (connect included). Must be > 0.
  std::chrono::milliseconds timeout{30'000};
  // Attempts per call, including the first; >= 1.
  int max_attempts = 3;
};

// kInvalidArgument when the options are unusable (URL scheme, host, characters; timeout;
// attempts); the message says which.
Status ValidateRemoteKServeOptions(const RemoteKServeOptions& options);

// The engine on libcurl (blob::MakeCurlHttpClient) with real retry sleeps.
Result<std::unique_ptr<InferenceEngine>> CreateRemoteKServeEngine(
    const RemoteKServeOptions& options);

// The engine on a given client and retry environment (tests inject fakes).
// REQUIRES: client != nullptr.
Result<std::unique_ptr<InferenceEngine>> CreateRemoteKServeEngine(
    const RemoteKServeOptions& options, std::unique_ptr<blob::HttpClient> client,
    blob::RetryEnvironment retry_environment);

}  // namespace strata::inference
