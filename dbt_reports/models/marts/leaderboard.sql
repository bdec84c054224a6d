-- The primary metric of every (model, dataset) result, computed from the spec that evals.partitions records as
-- current. Older spec hashes stay in evals.metrics, but they are different evaluations (another prompt, sample
-- count or scorer): they are never averaged in.

with

metrics as (

    select * from {{ ref('stg_metrics') }}

),

partitions as (

    select * from {{ ref('stg_partitions') }}

),

models as (

    select * from {{ ref('stg_models') }}

),

current_primary_metrics as (

    select
        metrics.*,
        partitions.dataset_version,
        partitions.weights_revision,
        partitions.run_id,
        partitions.judge,
        partitions.materialized_at

    from metrics
    inner join partitions
        on metrics.model = partitions.model
        and metrics.dataset = partitions.dataset
        and metrics.spec_hash = partitions.spec_hash
    where metrics.is_primary

),

final as (

    select
        -- ids
        current_primary_metrics.model,
        models.display_name as model_display_name,
        current_primary_metrics.dataset,
        current_primary_metrics.metric,
        current_primary_metrics.spec_hash,

        -- score; normal-approximation 95% interval, clipped to the metric's range
        current_primary_metrics.value,
        current_primary_metrics.stderr,
        case
            when current_primary_metrics.stderr is not null
                then greatest(
                    current_primary_metrics.value - 1.96 * current_primary_metrics.stderr,
                    coalesce(current_primary_metrics.value_min, '-infinity'::double)
                )
        end as ci_low,
        case
            when current_primary_metrics.stderr is not null
                then least(
                    current_primary_metrics.value + 1.96 * current_primary_metrics.stderr,
                    coalesce(current_primary_metrics.value_max, 'infinity'::double)
                )
        end as ci_high,
        current_primary_metrics.n,
        current_primary_metrics.n_clusters,
        current_primary_metrics.value_min,
        current_primary_metrics.value_max,
        current_primary_metrics.is_higher_better,

        -- model
        models.params_b,
        models.active_params_b,

        -- provenance
        current_primary_metrics.dataset_version,
        current_primary_metrics.weights_revision,
        current_primary_metrics.run_id,
        current_primary_metrics.judge,
        current_primary_metrics.materialized_at

    from current_primary_metrics
    -- left join: a result whose model left the registry fails the relationships test instead of vanishing
    left join models
        on current_primary_metrics.model = models.model

)

select * from final
