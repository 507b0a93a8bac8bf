// Who is calling and what they may do: the result of authentication, used for authorisation
// and written to the audit log.
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"

namespace strata::security {

// Roles are ordered: a writer may also read, an admin may do everything.
enum class Role { kReader = 0, kWriter = 1, kAdmin = 2 };

std::string_view RoleName(Role role);
// kInvalidArgument for anything but "reader", "writer" or "admin".
Result<Role> ParseRole(std::string_view name);

// True when `have` grants what `need` requires.
inline bool Grants(Role have, Role need) {
  return static_cast<int>(have) >= static_cast<int>(need);
}

struct Principal {
  std::string name;  // the token's name, or "ae:<calling AE>" for a DICOM peer
  Role role = Role::kReader;
};

}  // namespace strata::security
