#include "blob/blob_store.h"

#include <unistd.h>

namespace strata::blob {

LocalObject::~LocalObject() {
  if (remove_on_close_) ::unlink(path_.c_str());
}

}  // namespace strata::blob
