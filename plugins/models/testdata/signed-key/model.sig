{
  "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
  "verificationMaterial": {
    "publicKey": {
      "hint": "517c1cd1d3e8c32f3f0b48087a4bec8bc1e9f564a024f7bd5558cc4b29a6b4af"
    },
    "tlogEntries": []
  },
  "dsseEnvelope": {
    "payload": "ewogICJfdHlwZSI6ICJodHRwczovL2luLXRvdG8uaW8vU3RhdGVtZW50L3YxIiwKICAic3ViamVjdCI6IFsKICAgIHsKICAgICAgIm5hbWUiOiAic2lnbmVkLWtleSIsCiAgICAgICJkaWdlc3QiOiB7CiAgICAgICAgInNoYTI1NiI6ICI4OGQxYjgxNDQ1OGNhMDRkNWMzN2MxMjVjNTI2ZDc4YjY5ZDhhNjU0NGZhMGI1YmY5MjE3NGM4YTdkMzE5NmEyIgogICAgICB9CiAgICB9CiAgXSwKICAicHJlZGljYXRlVHlwZSI6ICJodHRwczovL21vZGVsX3NpZ25pbmcvc2lnbmF0dXJlL3YxLjAiLAogICJwcmVkaWNhdGUiOiB7CiAgICAic2VyaWFsaXphdGlvbiI6IHsKICAgICAgIm1ldGhvZCI6ICJmaWxlcyIsCiAgICAgICJoYXNoX3R5cGUiOiAic2hhMjU2IiwKICAgICAgImFsbG93X3N5bWxpbmtzIjogZmFsc2UsCiAgICAgICJpZ25vcmVfcGF0aHMiOiBbCiAgICAgICAgIm1vZGVsLnNpZyIsCiAgICAgICAgIi5naXQiLAogICAgICAgICIuZ2l0YXR0cmlidXRlcyIsCiAgICAgICAgIi5naXRodWIiLAogICAgICAgICIuZ2l0aWdub3JlIgogICAgICBdCiAgICB9LAogICAgInJlc291cmNlcyI6IFsKICAgICAgewogICAgICAgICJuYW1lIjogImNvbmZpZy5qc29uIiwKICAgICAgICAiYWxnb3JpdGhtIjogInNoYTI1NiIsCiAgICAgICAgImRpZ2VzdCI6ICIzZmI1MzhiZjNjNzYyNDQ1YjY0NDYxZmRhMmFhY2QwZGJjNjY2ZDQ0YWNmMWU1ZmQ3ZjJhYjBhNjE1OThjMzlkIgogICAgICB9LAogICAgICB7CiAgICAgICAgIm5hbWUiOiAibW9kZWwuc2FmZXRlbnNvcnMiLAogICAgICAgICJhbGdvcml0aG0iOiAic2hhMjU2IiwKICAgICAgICAiZGlnZXN0IjogImE3Y2IwNDg3ODBmMmFjYzQwNmEyODVhZTcyYjM2ZjQ2NGM4ODUzMmQxNDVlNmNlOWFkMTU5MmExZTk5M2JhNDciCiAgICAgIH0KICAgIF0KICB9Cn0=",
    "payloadType": "application/vnd.in-toto+json",
    "signatures": [
      {
        "sig": "MEYCIQCAVcWVUKWkCsHljqQBSWXTRLAvLft64Bb+foWjM//kBwIhAIg2zKyoj+KsjwA+CnbxpVuSRR1Qk/1myHr7YXzClUga",
        "keyid": ""
      }
    ]
  }
}