//! DescribeConfigs and IncrementalAlterConfigs for topic configs.

use kafka_proto::messages::{DescribeConfigsRequest, IncrementalAlterConfigsRequest};

use crate::cluster::{Cluster, Reply};
use crate::Ctx;

impl Cluster {
    pub(crate) fn describe_configs(&mut self, _ctx: &Ctx, _req: DescribeConfigsRequest) -> Reply {
        Reply::Close("DescribeConfigs is not served yet".into())
    }

    pub(crate) fn incremental_alter_configs(
        &mut self,
        _ctx: &Ctx,
        _req: IncrementalAlterConfigsRequest,
    ) -> Reply {
        Reply::Close("IncrementalAlterConfigs is not served yet".into())
    }
}
