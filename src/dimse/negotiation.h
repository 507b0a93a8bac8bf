// Presentation context negotiation for associations Strata accepts (PS3.8 7.1.1.13, PS3.7 D.3.3.4).
//
// Internal to the dimse module. Thread-safety: pure functions over the parameters they get.
#pragma once

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmnet/assoc.h>

#include <string>
#include <vector>

namespace strata::dimse {

// Transfer syntaxes accepted for storage SOP classes, in no particular order: the proposer's
// order decides (the first proposed one Strata supports wins, so objects are stored as sent).
const std::vector<std::string>& StorageTransferSyntaxes();

// True for the C-FIND/C-MOVE/C-GET information models Strata serves.
bool IsFindModel(const std::string& sop_class);
bool IsMoveModel(const std::string& sop_class);
bool IsGetModel(const std::string& sop_class);
// True for Patient Root models (FIND, MOVE or GET).
bool IsPatientRootModel(const std::string& sop_class);
// True for storage SOP classes DCMTK knows.
bool IsStorageSopClass(const std::string& sop_class);

// Accepts or refuses each proposed presentation context:
//  Verification, FIND/MOVE/GET Patient and Study Root: explicit LE, implicit LE or explicit BE;
//  storage SOP classes: the first proposed transfer syntax in StorageTransferSyntaxes(), with
//    the SCP role accepted when the requestor proposes it (C-GET sub-operations);
//  everything else: refused (abstract syntax or transfer syntaxes not supported).
void NegotiatePresentationContexts(T_ASC_Parameters* params);

}  // namespace strata::dimse
