// The AI route handlers, internal to the module; routes.cc puts them in the table when the
// server has an AI pipeline.
// Thread-safety: handlers run concurrently; AiPipeline is thread-safe.
#pragma once

#include "ai/ai_pipeline.h"
#include "dicomweb/http_server.h"
#include "ingest/ingest_service.h"

namespace strata::dicomweb {

Response HandleAiModels(ai::AiPipeline& ai, Request& request);
Response HandleAiInfer(ai::AiPipeline& ai, ingest::IngestService& ingest, Request& request);
Response HandleAiResults(ai::AiPipeline& ai, Request& request);
Response HandleAiResult(ai::AiPipeline& ai, Request& request);
Response HandleAiReview(ai::AiPipeline& ai, Request& request);
Response HandleAiStats(ai::AiPipeline& ai, Request& request);
Response HandleAiJobs(ai::AiPipeline& ai, Request& request);
Response HandleAiJobRetry(ai::AiPipeline& ai, Request& request);
Response HandleKServeMetadata(ai::AiPipeline& ai, Request& request);
Response HandleKServeInfer(ai::AiPipeline& ai, Request& request);
Response HandleKServeHealth(Request& request);

}  // namespace strata::dicomweb
