with

source as (

    select * from {{ source('evals', 'partitions') }}

),

renamed as (

    select
        -- ids
        model,
        dataset,
        spec_hash,
        dataset_version,
        weights_revision,
        run_id,
        nullif(judge, '') as judge,  -- judged benchmarks only (MT-Bench): who judged and how

        -- numerics
        samples,

        -- timestamps
        materialized_at

    from source

)

select * from renamed
