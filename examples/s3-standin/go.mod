// A stand-in for MinIO (quay.io/minio/minio) in the Meme Maker example, built by `npm run engine`
// into .engine/bin/s3-standin and copied into the `s3` image as /usr/bin/minio. MinIO is AGPL
// and is not built here; gofakes3 (MIT) serves the S3 API.
module switchyard.example/s3-standin

go 1.26

require (
	github.com/johannesboyne/gofakes3 v1.2.0
	go.etcd.io/bbolt v1.3.5
)

require (
	github.com/ryszard/goskiplist v0.0.0-20150312221310-2dfbae5fcf46 // indirect
	go.shabbyrobe.org/gocovmerge v0.0.0-20230507111327-fa4f82cfbf4d // indirect
	golang.org/x/sys v0.7.0 // indirect
	golang.org/x/tools v0.8.0 // indirect
	gopkg.in/check.v1 v1.0.0-20201130134442-10cb98267c6c // indirect
	gopkg.in/mgo.v2 v2.0.0-20180705113604-9856a29383ce // indirect
)
