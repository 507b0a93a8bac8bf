#include "dimse/negotiation.h"

#include <dcmtk/dcmdata/dcuid.h>

#include <algorithm>
#include <set>

namespace strata::dimse {
namespace {

const std::vector<std::string>& QueryTransferSyntaxes() {
  static const std::vector<std::string> kSyntaxes = {UID_LittleEndianExplicitTransferSyntax,
                                                     UID_LittleEndianImplicitTransferSyntax,
                                                     UID_BigEndianExplicitTransferSyntax};
  return kSyntaxes;
}

const std::set<std::string>& StorageSopClasses() {
  static const std::set<std::string> kClasses = [] {
    std::set<std::string> classes;
    for (int i = 0; i < numberOfDcmAllStorageSOPClassUIDs; ++i) {
      classes.insert(dcmAllStorageSOPClassUIDs[i]);
    }
    return classes;
  }();
  return kClasses;
}

bool Contains(const std::vector<std::string>& list, const std::string& value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

// The proposed transfer syntax to accept: the first one, in our preference order for
// services (`ours_first`), or in the proposer's order for storage.
const char* PickTransferSyntax(const T_ASC_PresentationContext& pc,
                               const std::vector<std::string>& supported, bool ours_first) {
  if (ours_first) {
    for (const std::string& ts : supported) {
      for (int i = 0; i < pc.transferSyntaxCount; ++i) {
        if (ts == pc.proposedTransferSyntaxes[i]) return pc.proposedTransferSyntaxes[i];
      }
    }
    return nullptr;
  }
  for (int i = 0; i < pc.transferSyntaxCount; ++i) {
    if (Contains(supported, pc.proposedTransferSyntaxes[i])) return pc.proposedTransferSyntaxes[i];
  }
  return nullptr;
}

}  // namespace

const std::vector<std::string>& StorageTransferSyntaxes() {
  static const std::vector<std::string> kSyntaxes = {
      UID_LittleEndianImplicitTransferSyntax, UID_LittleEndianExplicitTransferSyntax,
      UID_BigEndianExplicitTransferSyntax,    UID_DeflatedExplicitVRLittleEndianTransferSyntax,
      UID_JPEGProcess1TransferSyntax,         UID_JPEGProcess2_4TransferSyntax,
      UID_JPEGProcess14TransferSyntax,        UID_JPEGProcess14SV1TransferSyntax,
      UID_JPEGLSLosslessTransferSyntax,       UID_JPEGLSLossyTransferSyntax,
      UID_JPEG2000LosslessOnlyTransferSyntax, UID_JPEG2000TransferSyntax,
      UID_RLELosslessTransferSyntax,
  };
  return kSyntaxes;
}

bool IsFindModel(const std::string& sop_class) {
  return sop_class == UID_FINDPatientRootQueryRetrieveInformationModel ||
         sop_class == UID_FINDStudyRootQueryRetrieveInformationModel;
}

bool IsMoveModel(const std::string& sop_class) {
  return sop_class == UID_MOVEPatientRootQueryRetrieveInformationModel ||
         sop_class == UID_MOVEStudyRootQueryRetrieveInformationModel;
}

bool IsGetModel(const std::string& sop_class) {
  return sop_class == UID_GETPatientRootQueryRetrieveInformationModel ||
         sop_class == UID_GETStudyRootQueryRetrieveInformationModel;
}

bool IsPatientRootModel(const std::string& sop_class) {
  return sop_class == UID_FINDPatientRootQueryRetrieveInformationModel ||
         sop_class == UID_MOVEPatientRootQueryRetrieveInformationModel ||
         sop_class == UID_GETPatientRootQueryRetrieveInformationModel;
}

bool IsStorageSopClass(const std::string& sop_class) {
  return StorageSopClasses().count(sop_class) > 0;
}

void NegotiatePresentationContexts(T_ASC_Parameters* params) {
  const int count = ASC_countPresentationContexts(params);
  for (int i = 0; i < count; ++i) {
    T_ASC_PresentationContext pc;
    if (ASC_getPresentationContext(params, i, &pc).bad()) continue;
    const std::string sop_class = pc.abstractSyntax;
    const char* ts = nullptr;
    T_ASC_SC_ROLE role = ASC_SC_ROLE_DEFAULT;
    if (sop_class == UID_VerificationSOPClass || IsFindModel(sop_class) || IsMoveModel(sop_class) ||
        IsGetModel(sop_class)) {
      ts = PickTransferSyntax(pc, QueryTransferSyntaxes(), /*ours_first=*/true);
    } else if (IsStorageSopClass(sop_class)) {
      ts = PickTransferSyntax(pc, StorageTransferSyntaxes(), /*ours_first=*/false);
      // A C-GET requestor proposes the SCP role for the storage classes it wants to receive.
      if (pc.proposedRole == ASC_SC_ROLE_SCP || pc.proposedRole == ASC_SC_ROLE_SCUSCP) {
        role = pc.proposedRole;
      }
    } else {
      (void)ASC_refusePresentationContext(params, pc.presentationContextID,
                                          ASC_P_ABSTRACTSYNTAXNOTSUPPORTED);
      continue;
    }
    if (ts == nullptr) {
      (void)ASC_refusePresentationContext(params, pc.presentationContextID,
                                          ASC_P_TRANSFERSYNTAXESNOTSUPPORTED);
      continue;
    }
    (void)ASC_acceptPresentationContext(params, pc.presentationContextID, ts, role);
  }
}

}  // namespace strata::dimse
