package models

// signatureFile is the OpenSSF model-signing bundle beside a model.
const signatureFile = "model.sig"
