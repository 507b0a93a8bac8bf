#include "security/authenticator.h"

#include <gtest/gtest.h>

namespace strata::security {
namespace {

std::string Base64(const std::string& in) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    unsigned v =
        (unsigned char)in[i] << 16 | (unsigned char)in[i + 1] << 8 | (unsigned char)in[i + 2];
    out += {k[v >> 18], k[(v >> 12) & 63], k[(v >> 6) & 63], k[v & 63]};
  }
  if (in.size() - i == 1) {
    unsigned v = (unsigned char)in[i] << 16;
    out += {k[v >> 18], k[(v >> 12) & 63], '=', '='};
  } else if (in.size() - i == 2) {
    unsigned v = (unsigned char)in[i] << 16 | (unsigned char)in[i + 1] << 8;
    out += {k[v >> 18], k[(v >> 12) & 63], k[(v >> 6) & 63], '='};
  }
  return out;
}

TokenAuthenticator Make() {
  auto auth = TokenAuthenticator::Create({{"viewer", "reader", Sha256Hex("read-secret")},
                                          {"modality", "writer", Sha256Hex("write-secret")},
                                          {"ops", "admin", Sha256Hex("admin-secret")}});
  EXPECT_TRUE(auth.ok()) << auth.status().ToString();
  return *std::move(auth);
}

TEST(Sha256HexTest, KnownVector) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(TokenAuthenticatorTest, BearerTokenGivesItsPrincipal) {
  auto auth = Make();
  auto p = auth.Authenticate("Bearer write-secret");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->name, "modality");
  EXPECT_EQ(p->role, Role::kWriter);
  auto lower = auth.Authenticate("bearer admin-secret");
  ASSERT_TRUE(lower.ok());
  EXPECT_EQ(lower->role, Role::kAdmin);
}

TEST(TokenAuthenticatorTest, BasicNeedsTheTokensName) {
  auto auth = Make();
  auto p = auth.Authenticate("Basic " + Base64("viewer:read-secret"));
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->name, "viewer");
  EXPECT_EQ(auth.Authenticate("Basic " + Base64("ops:read-secret")).status().code(),
            StatusCode::kUnauthenticated);
  EXPECT_EQ(auth.Authenticate("Basic " + Base64("no-colon")).status().code(),
            StatusCode::kUnauthenticated);
  EXPECT_EQ(auth.Authenticate("Basic !!!").status().code(), StatusCode::kUnauthenticated);
}

TEST(TokenAuthenticatorTest, RefusesMissingWrongAndUnknownSchemes) {
  auto auth = Make();
  for (const char* header :
       {"", "Bearer ", "Bearer wrong", "Token read-secret", "Bearer read-secretx", "Digest abc"}) {
    auto p = auth.Authenticate(header);
    EXPECT_EQ(p.status().code(), StatusCode::kUnauthenticated) << header;
    EXPECT_FALSE(p.status().message().empty());
  }
}

TEST(TokenAuthenticatorTest, NoTokensRefusesEverything) {
  auto auth = TokenAuthenticator::Create({});
  ASSERT_TRUE(auth.ok());
  EXPECT_EQ(auth->Authenticate("Bearer anything").status().code(), StatusCode::kUnauthenticated);
}

TEST(TokenAuthenticatorTest, CreateRejectsBadRolesAndDigests) {
  EXPECT_FALSE(TokenAuthenticator::Create({{"a", "root", Sha256Hex("x")}}).ok());
  EXPECT_FALSE(TokenAuthenticator::Create({{"a", "reader", "abc"}}).ok());
  EXPECT_FALSE(TokenAuthenticator::Create({{"a", "reader", std::string(64, 'g')}}).ok());
}

TEST(RoleTest, OrderedGrants) {
  EXPECT_TRUE(Grants(Role::kAdmin, Role::kWriter));
  EXPECT_TRUE(Grants(Role::kWriter, Role::kReader));
  EXPECT_FALSE(Grants(Role::kReader, Role::kWriter));
  EXPECT_FALSE(Grants(Role::kWriter, Role::kAdmin));
  EXPECT_EQ(*ParseRole("writer"), Role::kWriter);
  EXPECT_FALSE(ParseRole("Writer").ok());
}

TEST(NewTokenSecretTest, RandomAndUrlSafe) {
  std::string a = NewTokenSecret(), b = NewTokenSecret();
  EXPECT_NE(a, b);
  EXPECT_EQ(a.size(), 43u);
  EXPECT_EQ(a.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
            std::string::npos);
}

}  // namespace
}  // namespace strata::security
