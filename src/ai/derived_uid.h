// UIDs derived from a name rather than drawn at random: the same seed always gives the same
// UID, so work that is repeated after a crash produces the same objects.
//
// PS3.5 B.2: a UUID-derived UID is "2.25." followed by a 128-bit integer in decimal; here the
// integer is the first 128 bits of SHA-256(seed).
// Thread-safety: pure function.
#pragma once

#include <string>
#include <string_view>

namespace strata::ai {

std::string DerivedUid(std::string_view seed);

}  // namespace strata::ai
